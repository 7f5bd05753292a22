"""Scheduled jobs: the four seeded crons in Asia/Manila, ticks that enqueue, signed deliveries retried."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import asyncpg
import pytest

from sql.db import Database
from app.odoo.scheduler import Scheduler, next_run
from app.odoo.signatures import verify
from app.services import Services
from app.settings import OdooSettings
from tests.conftest import CountingEmbedder, make_settings


def test_next_runs_of_the_seeded_jobs() -> None:
    now = datetime(2026, 11, 26, 7, 1, tzinfo=UTC)  # a Thursday, 15:01 in Manila
    assert next_run("0 8 * * *", "Asia/Manila", now) == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
    assert next_run("0 9 * * 1", "Asia/Manila", now) == datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    assert next_run("*/15 * * * *", "Asia/Manila", now) == datetime(2026, 11, 26, 7, 15, tzinfo=UTC)
    assert next_run("0 2 * * *", "Asia/Manila", now) == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


class Receiver:
    def __init__(self, failures: int) -> None:
        self.bodies: list[tuple[dict, dict]] = []
        self.failures = failures
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                if outer.failures:
                    outer.failures -= 1
                    self.send_response(500)
                else:
                    outer.bodies.append((dict(self.headers), json.loads(body), body))
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(failures=1)
    yield r
    r.server.shutdown()


async def test_ticks_enqueue_due_jobs_and_deliveries_are_signed_and_retried(
    db_url: str, tmp_path: Path, receiver: Receiver
, owner: asyncpg.Pool) -> None:
    from dataclasses import replace

    settings = replace(make_settings(db_url, tmp_path),
                       odoo=OdooSettings(outbound_url=receiver.url, outbound_secret="outbound_secret_0123456789"))
    services = await Services.start(settings, embedder=CountingEmbedder(), database=Database(db_url))
    try:
        scheduler = Scheduler(services)
        scheduler.queue.backoff_base = 0.0
        await owner.execute("UPDATE odoo.scheduled_jobs SET enabled = false WHERE action IN ('drift', 'health')")
        t0 = datetime(2026, 11, 26, 7, 1, tzinfo=UTC)
        assert await scheduler.tick(t0) == [], "the first tick only schedules"
        assert await scheduler.tick(datetime(2026, 11, 26, 7, 10, tzinfo=UTC)) == []
        assert await scheduler.tick(datetime(2026, 11, 26, 7, 16, tzinfo=UTC)) == ["health-check"]
        await owner.execute("UPDATE odoo.scheduled_jobs SET enabled = false WHERE action LIKE 'pull:%'")
        fired = await scheduler.tick(datetime(2026, 11, 27, 0, 5, tzinfo=UTC))
        assert fired == ["compliance-alerts", "health-check", "stale-data-cleanup"]
        async with httpx.AsyncClient() as http:
            worker = scheduler.delivery_worker(http)
            for _ in range(5):
                await worker.drain()
        # one delivery per batch: the first health check met the 500 and went back to wait its (zero) backoff
        assert [b["job"] for _, b, _ in receiver.bodies] == ["compliance-alerts", "health-check", "stale-data-cleanup",
                                                             "health-check"]
        assert receiver.bodies[2][1]["action"] == "cleanup"
        headers, _, raw = receiver.bodies[0]
        lower = {k.lower(): v for k, v in headers.items()}
        verify(["outbound_secret_0123456789"], lower["x-ipai-timestamp"], lower["x-ipai-signature"], raw,
               now=float(lower["x-ipai-timestamp"]))
        assert receiver.failures == 0, "the first delivery met a 500 and was tried again"
        states = await owner.fetch("SELECT status, count(*) FROM rag.jobs WHERE queue = 'outbound' GROUP BY 1")
        assert [tuple(r) for r in states] == [("done", 4)]
    finally:
        await services.close()


async def test_scheduled_pulls_refresh_the_finance_shadow(db_url: str, tmp_path: Path, owner: asyncpg.Pool) -> None:
    from dataclasses import replace

    from app.odoo.secrets import ODOO_PASSWORD
    from tests.odoo_server import FakeOdoo

    fake = FakeOdoo(db="odoo_core").start()
    fake.records["account.move"] = [
        {"id": 1, "name": "INV/2026/0001", "move_type": "out_invoice", "state": "posted", "amount_total": 1200.0,
         "partner_id": [3, "Acme"], "write_date": "2026-11-20 08:00:00"}]
    # The environment's password is wrong: the pull works only with the one in the tenant's vault.
    settings = replace(make_settings(db_url, tmp_path), odoo=OdooSettings(user="admin", password="stale"))
    services = await Services.start(settings, embedder=CountingEmbedder(), database=Database(db_url))
    try:
        await services.vault.put("default", ODOO_PASSWORD, "secret")
        await owner.execute("INSERT INTO odoo.instances (name, base_url, database) VALUES ('prod', $1, 'odoo_core')",
                                    fake.url)
        await owner.execute("UPDATE odoo.scheduled_jobs SET enabled = (name = 'shadow-odoo-finance')")
        scheduler = Scheduler(services)
        await scheduler.tick(datetime(2026, 11, 26, 7, 1, tzinfo=UTC))
        assert await scheduler.tick(datetime(2026, 11, 26, 8, 0, 1, tzinfo=UTC)) == ["shadow-odoo-finance"]
        async with httpx.AsyncClient() as http:
            await scheduler.delivery_worker(http).drain()
        row = await owner.fetchrow("SELECT name, partner, amount_total FROM odoo_seed.shadow_moves")
        assert (row["name"], row["partner"], float(row["amount_total"])) == ("INV/2026/0001", "Acme", 1200.0)
    finally:
        await services.close()
        fake.stop()


async def test_cleanup_prunes_old_realtime_messages_and_finished_jobs(services: Services, owner: asyncpg.Pool) -> None:
    from app.odoo.scheduler import prune

    await owner.execute(
        "INSERT INTO rag.realtime_events (channel, payload, created_at) VALUES "
        "('notifications', '{}', now() - interval '40 days'), ('notifications', '{}', now())")
    await owner.execute(
        "INSERT INTO rag.jobs (queue, kind, status, finished_at) VALUES "
        "('x', 't', 'done', now() - interval '40 days'), ('x', 't', 'done', now()), "
        "('x', 't', 'dead', now() - interval '40 days')")
    async with owner.acquire() as conn:
        assert await prune(conn, 30, 365) == {"realtime_events": 1, "jobs": 1, "event_log": 0, "audit_log": 0}
    assert await owner.fetchval("SELECT count(*) FROM rag.jobs") == 2
