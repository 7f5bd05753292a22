"""Events the database raises, routed like webhooks: watched tables' changes, schema-changed, and the monitors
(drift appearing once, a flapping health check alerting once per quiet period); 1,000 routed events delivered
exactly once through a receiver that dies midway."""
from __future__ import annotations

import json
import socket

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.odoo.monitors import drift_detector, health_probe
from app.odoo.scheduler import Scheduler
from app.services import Services
from tests.test_odoo_bridge import event, headers
from tests.test_routing import Receiver, client, receiver, run_workers  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("receiver")


async def test_a_watched_table_raises_its_changes_only_when_a_route_wants_them(
        client: AsyncTestClient, services: Services, receiver: Receiver, owner: asyncpg.Pool) -> None:
    await client.post("/v1/kb/documents", json={"external_id": "a", "content": "No route watches documents."})
    assert await owner.fetchval("SELECT count(*) FROM odoo.system_events") == 0, "no route: nothing is written"
    await client.put("/v1/routes/assets", json={"source": "database", "aggregate_type": "catalog.assets",
                                                "url": f"{receiver.url}/assets"})
    fqdn = "odoo.odoo_core.account.move"
    assert (await client.put(f"/v1/catalog/assets/{fqdn}", json={"type": "odoo_model"})).status_code == 201
    await client.put(f"/v1/catalog/assets/{fqdn}", json={"type": "odoo_model", "owner": "finance"})
    assert (await client.delete(f"/v1/catalog/assets/{fqdn}")).status_code == 204
    await run_workers(services)
    got = receiver.deliveries("/assets")
    assert [(d["event_type"], d["aggregate_id"]) for d in got] == [("insert", fqdn), ("update", fqdn),
                                                                    ("delete", fqdn)]
    assert got[1]["payload"]["old_keys"] == [fqdn] and got[2]["payload"]["old_keys"] == [fqdn]


async def test_ddl_raises_one_schema_changed_event(client: AsyncTestClient, services: Services, receiver: Receiver,
                                                   owner: asyncpg.Pool) -> None:
    await client.put("/v1/routes/ddl", json={"source": "database", "event_type": "schema-changed",
                                             "url": f"{receiver.url}/ddl", "severity": "warning"})
    await owner.execute("CREATE TABLE rag.probe_added_by_hand (id integer)")
    await owner.execute("CREATE TEMP TABLE not_ours (id integer)")  # another schema: not reported
    await run_workers(services)
    [ddl] = receiver.deliveries("/ddl")
    assert ddl["payload"]["command"] == "CREATE TABLE" and ddl["severity"] == "warning"
    assert ddl["payload"]["objects"][0]["identity"] == "rag.probe_added_by_hand"


async def test_drift_alerts_once_when_it_appears_and_once_when_resolved(
        client: AsyncTestClient, services: Services, receiver: Receiver, owner: asyncpg.Pool) -> None:
    await client.put("/v1/routes/drift", json={"source": "schedule", "aggregate_type": "odoo.drift",
                                               "url": f"{receiver.url}/drift", "severity": "critical"})
    tenant = services.db.tenant("default")

    async def run_monitor() -> str | None:
        async with tenant.acquire() as conn:
            return await drift_detector(services, conn, "default")

    assert await run_monitor() is None, "a first look that finds no drift is not news"
    await owner.execute("INSERT INTO odoo_seed.seed_projects (tenant_id, external_ref, name) "
                        "VALUES ('default', 'PRJ-9', 'Rollout')")
    assert await run_monitor() == "drift-detected"
    assert await run_monitor() is None, "the same drift on the next run raises nothing"
    await owner.execute("DELETE FROM odoo_seed.seed_projects WHERE external_ref = 'PRJ-9'")
    assert await run_monitor() == "drift-resolved"
    await run_workers(services)
    got = receiver.deliveries("/drift")
    assert [d["event_type"] for d in got] == ["drift-detected", "drift-resolved"]
    assert got[0]["payload"]["counts"]["missing_in_odoo"] == 1 and got[0]["severity"] == "critical"


async def test_a_flapping_health_check_alerts_once_per_quiet_period(
        client: AsyncTestClient, services: Services, receiver: Receiver, owner: asyncpg.Pool) -> None:
    await client.put("/v1/routes/health", json={"source": "schedule", "aggregate_type": "health",
                                                "url": f"{receiver.url}/slack", "format": "slack",
                                                "severity": "critical", "quiet_seconds": 3600})
    tenant = services.db.tenant("default")
    seen = []
    for failing in (True, False, True, False, True):
        if failing:  # a job nobody works on, due an hour ago: the queue lag check fails
            await owner.execute("INSERT INTO rag.jobs (tenant_id, queue, kind, payload, run_at) "
                                "VALUES ('default', 'idle', 'x', '{}', now() - interval '1 hour')")
        else:
            await owner.execute("DELETE FROM rag.jobs WHERE queue = 'idle'")
        async with tenant.acquire() as conn:
            seen.append(await health_probe(services, conn, "default"))
        await run_workers(services)
    assert seen == ["health-failed", "health-recovered"] * 2 + ["health-failed"], "each change is an event"
    messages = receiver.deliveries("/slack")
    assert len(messages) == 2, "one alert per kind in the quiet period, however often it flaps"
    assert "health-failed" in messages[0]["text"] and "[critical]" in messages[0]["text"]
    assert "health-recovered" in messages[1]["text"] and messages[0]["blocks"]


async def test_a_thousand_events_reach_a_receiver_that_dies_midway_exactly_once(
        client: AsyncTestClient, services: Services, receiver: Receiver, owner: asyncpg.Pool) -> None:
    await client.put("/v1/routes/all-moves", json={"source": "odoo", "aggregate_type": "account.move",
                                                   "url": f"{receiver.url}/moves"})
    for n in range(1000):
        body = event("account.move", n + 1, "2026-01-01 10:00:00", state="posted")
        assert (await client.post("/v1/odoo/webhook", content=body, headers=headers(body))).status_code == 202
    await Scheduler(services).delivery_worker(httpx.AsyncClient()).queue.pending("default")  # warm
    from app.odoo.handlers import ChangeHandlers
    from app.odoo.ledger import Ledger

    await Ledger(services).worker(ChangeHandlers(services, frozenset()), batch_size=100).drain()
    port = receiver.server.server_address[1]
    async with httpx.AsyncClient(timeout=5) as http:
        worker = Scheduler(services).delivery_worker(http)
        for _ in range(500):
            await worker.run_once()
        receiver.server.shutdown()  # the receiver dies: deliveries fail and wait their backoff
        receiver.server.server_close()
        for _ in range(50):
            await worker.run_once()
        restarted = Receiver(port=port)
        try:
            for _ in range(30):
                await owner.execute("UPDATE rag.jobs SET run_at = now() WHERE queue = 'outbound' AND status = 'pending'")
                if not await worker.drain():
                    break
            ids = [h["x-ipai-delivery"] for r in (receiver, restarted) for p, h, _ in r.received if p == "/moves"]
            events = {json.loads(b)["aggregate_id"] for r in (receiver, restarted) for p, _, b in r.received
                      if p == "/moves"}
        finally:
            restarted.server.shutdown()
    assert len(set(ids)) == 1000 and len(events) == 1000, "every event delivered; deduped by delivery id, once"
    assert await owner.fetchval("SELECT count(*) FROM odoo.route_deliveries WHERE status = 'delivered'") == 1000


async def test_an_email_alert_goes_through_the_smtp_server(client: AsyncTestClient, services: Services) -> None:
    from dataclasses import replace

    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.mails: list[tuple[list[str], bytes]] = []

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
            self.mails.append((envelope.rcpt_tos, envelope.content))  # type: ignore[attr-defined]
            return "250 OK"

    inbox = Inbox()
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        settings = services.settings
        object.__setattr__(services, "settings", replace(settings, odoo=replace(
            settings.odoo, smtp_url=f"smtp://127.0.0.1:{port}",
            smtp_from="alerts@ipai.example")))
        r = await client.put("/v1/routes/mail-me", json={"source": "odoo", "aggregate_type": "account.move",
                                                         "url": "mailto:not-an-address"})
        assert r.status_code == 422
        r = await client.put("/v1/routes/mail-me", json={"source": "odoo", "aggregate_type": "account.move",
                                                         "severity": "warning", "url": "mailto:finance-ops@example.com"})
        assert r.status_code == 201, r.text
        body = event("account.move", 77, "2026-01-01 10:00:00", state="posted", name="INV/77")
        await client.post("/v1/odoo/webhook", content=body, headers=headers(body))
        await run_workers(services)
        [(to, raw)] = inbox.mails
        text = raw.decode()
        assert to == ["finance-ops@example.com"] and "From: alerts@ipai.example" in text
        assert "Subject: [warning] mail-me: write on account.move" in text and "INV/77" in text
        [delivery] = (await client.get("/v1/routes/deliveries")).json()
        assert delivery["status"] == "delivered" and delivery["response_status"] == 250
    finally:
        object.__setattr__(services, "settings", settings)
        smtp.stop()
