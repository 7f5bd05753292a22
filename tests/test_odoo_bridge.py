"""The Odoo bridge: signatures, the ledger, processing exactly once, dead letters, out-of-order safety,
cursors, drift, pull sync against a fake Odoo, knowledge documents, GitHub webhooks."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from sql.db import Database
from sql.errors import Unauthorized
from app.odoo.handlers import ChangeHandlers
from app.odoo.jsonrpc import OdooClient, OdooConnection
from app.odoo.ledger import Ledger
from app.odoo.secrets import webhook_secret
from app.odoo.pull import pull
from app.odoo.seed import drift, load_seed, read_seed
from app.odoo.signatures import sign, verify
from app.services import Services
from tests.conftest import CountingEmbedder, login, make_settings
from tests.odoo_server import FakeOdoo

SECRET = "whsec_test_0123456789abcdef"
PINNED_BODY = (b'{"event_type":"write","aggregate_type":"project.project","aggregate_id":7,'
               b'"payload":{"id":7,"name":"Rollout","write_date":"2026-01-01 10:00:00"}}')
PINNED_TIMESTAMP = 1767261600
PINNED_SIGNATURE = "9aeae00caba3f03172ed839954c32448ebf07757a43c8ac488656cc8e6f31057"  # also in the README


def test_the_documented_signature_example() -> None:
    assert sign(SECRET, PINNED_TIMESTAMP, PINNED_BODY) == PINNED_SIGNATURE
    verify([SECRET], str(PINNED_TIMESTAMP), PINNED_SIGNATURE, PINNED_BODY, now=PINNED_TIMESTAMP + 10)


def test_timestamp_window_and_rotation() -> None:
    ts = 1_800_000_000
    good = sign(SECRET, ts, b"{}")
    for skew in (299, -299):
        verify([SECRET], str(ts), good, b"{}", now=ts + skew)
    for skew in (301, -301):
        with pytest.raises(Unauthorized, match="clock"):
            verify([SECRET], str(ts), good, b"{}", now=ts + skew)
    new = "whsec_rotated_secret_fedcba9876"
    verify([SECRET, new], str(ts), sign(new, ts, b"{}"), b"{}", now=ts)
    verify([SECRET, new], str(ts), good, b"{}", now=ts)
    with pytest.raises(Unauthorized, match="does not match"):
        verify([new], str(ts), good, b"{}", now=ts)
    with pytest.raises(Unauthorized, match="required"):
        verify([SECRET], None, good, b"{}", now=ts)


def headers(body: bytes, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return {"x-ipai-instance": "prod", "x-ipai-timestamp": str(ts), "x-ipai-signature": sign(secret, ts, body),
            "content-type": "application/json"}


def event(model: str, odoo_id: int, write_date: str, event_id: str | None = None, kind: str = "write",
          **fields: object) -> bytes:
    body = {"event_type": kind, "aggregate_type": model, "aggregate_id": odoo_id,
            "payload": {"id": odoo_id, "write_date": write_date, **fields}}
    if event_id:
        body["event_id"] = event_id
    return json.dumps(body).encode()


async def add_instance(services: Services, name: str = "prod") -> asyncpg.Record:
    """An instance of the default tenant whose webhook secret is in the vault."""
    await services.vault.put("default", webhook_secret(name), SECRET)
    tenant = services.db.tenant("default")
    instance_id = await tenant.fetchval(
        "INSERT INTO odoo.instances (name, base_url, database) VALUES ($1, 'http://odoo', 'odoo_core') RETURNING id",
        name)
    return await tenant.fetchrow("SELECT * FROM odoo.instances WHERE id = $1", instance_id)


@pytest.fixture
async def client(db_url: str, tmp_path: Path, embedder: CountingEmbedder, services: Services
                 ) -> AsyncIterator[AsyncTestClient]:
    await add_instance(services)
    app = create_app(make_settings(db_url, tmp_path), embedder=embedder, database=Database(db_url))
    async with AsyncTestClient(app) as c:
        await login(c, db_url)
        yield c


async def rejected(services: Services) -> list[str]:
    return [r["status"] for r in await services.db.tenant("default").fetch(
        "SELECT status FROM odoo.event_log WHERE kind = 'rejected' ORDER BY id")]


async def test_webhook_receipt_duplicates_and_rejections(client: AsyncTestClient, services: Services, owner: asyncpg.Pool) -> None:
    body = event("project.project", 7, "2026-01-01 10:00:00", name="Rollout")
    first = await client.post("/v1/odoo/webhook", content=body, headers=headers(body))
    assert first.status_code == 202, first.text
    again = await client.post("/v1/odoo/webhook", content=body, headers=headers(body))
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"] and again.json()["duplicate"]
    bad = await client.post("/v1/odoo/webhook", content=body, headers={**headers(body), "x-ipai-signature": "00" * 32})
    assert bad.status_code == 401 and bad.headers["content-type"].startswith("application/problem+json")
    old = await client.post("/v1/odoo/webhook", content=body, headers=headers(body, ts=int(time.time()) - 301))
    assert old.status_code == 401
    junk = b'{"event_type": "write"}'
    assert (await client.post("/v1/odoo/webhook", content=junk, headers=headers(junk))).status_code == 422
    garbage = b"{not json"
    assert (await client.post("/v1/odoo/webhook", content=garbage, headers=headers(garbage))).status_code == 422
    huge = b'{"x": "' + b"a" * (1024 * 1024) + b'"}'
    assert (await client.post("/v1/odoo/webhook", content=huge, headers=headers(huge))).status_code == 413
    unknown = await client.post("/v1/odoo/webhook", content=body, headers={**headers(body), "x-ipai-instance": "nope"})
    assert unknown.status_code == 401
    assert await rejected(services) == ["401", "401", "422", "422", "413", "401"]
    kinds = [r["kind"] for r in await owner.fetch("SELECT kind FROM odoo.event_log WHERE kind <> 'rejected' ORDER BY id")]
    assert kinds[:2] == ["received", "duplicate"]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await owner.execute("DELETE FROM odoo.event_log")


async def test_a_hundred_concurrent_duplicates_store_one_row(services: Services, owner: asyncpg.Pool) -> None:
    await add_instance(services)
    ledger = Ledger(services)
    body = event("project.project", 9, "2026-01-02 00:00:00", event_id="evt-9", name="Once")
    results = await asyncio.gather(*(ledger.receive("prod", body, headers(body), "127.0.0.1", "test")
                                     for _ in range(100)))
    assert sorted(code for code, _ in results) == [200] * 99 + [202]
    assert len({out["id"] for _, out in results}) == 1
    assert await owner.fetchval("SELECT count(*) FROM odoo.webhook_events") == 1
    assert await owner.fetchval("SELECT count(*) FROM rag.jobs WHERE queue = 'odoo'") == 1


async def test_processing_is_exactly_once_after_a_worker_dies(services: Services, owner: asyncpg.Pool) -> None:
    await add_instance(services)
    ledger = Ledger(services)
    ledger.queue.lease_seconds = 0.5
    body = event("project.project", 11, "2026-01-03 00:00:00", name="Alpha", external_ref="P-11")
    _, out = await ledger.receive("prod", body, headers(body), None, None)
    await ledger.queue.claim("dead-worker", 10)  # claims, then dies
    worker = ledger.worker(ChangeHandlers(services, frozenset()))
    assert await worker.run_once() == 0, "leased to the dead worker"
    await asyncio.sleep(0.7)
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    row = await owner.fetchrow("SELECT status, attempts FROM odoo.webhook_events WHERE id = $1", out["id"])
    assert row["status"] == "completed"
    assert await owner.fetchval("SELECT name FROM odoo_seed.shadow_projects WHERE odoo_id = 11") == "Alpha"
    completions = await owner.fetchval(
        "SELECT count(*) FROM odoo.event_log WHERE event_row = $1 AND status = 'completed'", out["id"])
    assert completions == 1


async def test_poison_event_is_dead_lettered_while_a_thousand_complete(services: Services, owner: asyncpg.Pool) -> None:
    await add_instance(services)
    ledger = Ledger(services)
    ledger.queue.backoff_base = 0.0
    ledger.queue.max_attempts = 3
    for i in range(1000):
        body = event("project.task", 1000 + i, "2026-01-04 00:00:00", name=f"Task {i}", project_id=[1, "P"])
        await ledger.receive("prod", body, headers(body), None, None)
    poison = event("ir.module.module", 1, "2026-01-04 00:00:00")  # no module name: the handler fails
    _, bad = await ledger.receive("prod", poison, headers(poison), None, None)
    worker = ledger.worker(ChangeHandlers(services, frozenset()), batch_size=100)
    for _ in range(30):
        if not await worker.run_once() and not await owner.fetchval(
                "SELECT count(*) FROM rag.jobs WHERE queue = 'odoo' AND status IN ('pending', 'running')"):
            break
    counts = dict(await owner.fetch("SELECT status, count(*) FROM odoo.webhook_events GROUP BY 1"))
    assert counts == {"completed": 1000, "dead": 1}
    assert await owner.fetchval("SELECT count(*) FROM odoo_seed.shadow_tasks") == 1000
    assert "module name" in await owner.fetchval("SELECT last_error FROM odoo.webhook_events WHERE id = $1",
                                                         bad["id"])
    assert (await ledger.replay("default", bad["id"]))["status"] == "pending"


async def test_out_of_order_updates_keep_the_newest(services: Services, owner: asyncpg.Pool) -> None:
    await add_instance(services)
    ledger = Ledger(services)
    for name, wd in (("Newest", "2026-02-01 12:00:00"), ("Older", "2026-01-01 12:00:00")):
        body = event("project.project", 5, wd, name=name)
        await ledger.receive("prod", body, headers(body), None, None)
    await ledger.worker(ChangeHandlers(services, frozenset())).drain()
    row = await owner.fetchrow("SELECT name, write_date FROM odoo_seed.shadow_projects WHERE odoo_id = 5")
    assert row["name"] == "Newest"
    log = await owner.fetch("SELECT reason FROM odoo.event_log WHERE kind = 'status' ORDER BY id")
    assert log[-1]["reason"].startswith("ignored")


async def test_cursor_never_moves_back(services: Services, owner: asyncpg.Pool) -> None:
    instance = await add_instance(services)
    await owner.execute("INSERT INTO odoo.sync_cursors (instance_id, model, last_write_date, last_id) "
                                "VALUES ($1, 'project.task', '2026-01-02', 10)", instance["id"])
    await owner.execute("UPDATE odoo.sync_cursors SET last_id = 11")
    with pytest.raises(asyncpg.CheckViolationError, match="move back"):
        await owner.execute("UPDATE odoo.sync_cursors SET last_write_date = '2026-01-01'")


async def test_drift_views_on_a_seeded_example(services: Services, tmp_path: Path, owner: asyncpg.Pool) -> None:
    instance = await add_instance(services)
    seed = tmp_path / "seed.yaml"
    seed.write_text("projects:\n  - {external_ref: P1, name: Rollout}\n  - {external_ref: P2, name: Training}\n"
                    "tasks:\n  - {external_ref: T1, name: Kickoff, project_ref: P1}\n")
    async with owner.acquire() as conn:
        assert await load_seed(conn, "default", read_seed(seed)) == {"projects": 2, "tasks": 1}
    ledger = Ledger(services)
    for body in (event("project.project", 1, "2026-01-01 00:00:00", name="Roll-out", external_ref="P1"),
                 event("project.project", 3, "2026-01-01 00:00:00", name="Side project", external_ref="P3"),
                 event("project.task", 4, "2026-01-01 00:00:00", name="Kickoff", external_ref="T1", project_id=1)):
        await ledger.receive("prod", body, headers(body), None, None)
    await ledger.worker(ChangeHandlers(services, frozenset())).drain()
    report = await drift(owner, "default")
    assert [(r["kind"], r["external_ref"]) for r in report["missing_in_odoo"]] == [("project", "P2")]
    assert [(r["kind"], r["external_ref"]) for r in report["orphan_in_odoo"]] == [("project", "P3")]
    assert [(r["external_ref"], r["seed_name"], r["odoo_name"], r["drift"]) for r in report["name_drift"]] == [
        ("P1", "Rollout", "Roll-out", "seed")]
    assert instance["database"] == "odoo_core"


async def test_pull_sync_is_paged_resumable_and_feeds_the_knowledge_base(services: Services, owner: asyncpg.Pool) -> None:
    instance = await add_instance(services)
    fake = FakeOdoo(db="odoo_core").start()
    try:
        fake.records["project.task"] = [
            {"id": i, "name": f"Task {i}", "write_date": f"2026-03-01 10:00:{i:02d}", "project_id": [1, "P"]}
            for i in range(1, 8)]
        fake.records["knowledge.article"] = [
            {"id": 1, "name": "Refund policy", "body": "Refunds are issued within 14 days.",
             "write_date": "2026-03-01 09:00:00"}]
        import httpx

        handlers = ChangeHandlers(services, frozenset({"knowledge.article"}))
        async with httpx.AsyncClient() as http:
            client = OdooClient(OdooConnection(fake.url, "odoo_core", "admin", "secret"), http)
            first = await pull(services, handlers, client, instance, "project.task", page_size=3)
            assert first["applied"] == 7 and first["cursor"]["id"] == 7
            assert await pull(services, handlers, client, instance, "project.task", page_size=3) == {
                **first, "applied": 0}
            fake.records["project.task"].append(
                {"id": 8, "name": "Task 8", "write_date": "2026-03-01 10:00:07", "project_id": [1, "P"]})
            fake.records["project.task"][0]["name"] = "Task 1 renamed"
            fake.records["project.task"][0]["write_date"] = "2026-03-02 00:00:00"
            again = await pull(services, handlers, client, instance, "project.task", page_size=3)
            assert again["applied"] == 2
            kb = await pull(services, handlers, client, instance, "knowledge.article")
            assert kb["applied"] == 1
        names = dict(await owner.fetch("SELECT odoo_id, name FROM odoo_seed.shadow_tasks"))
        assert len(names) == 8 and names[1] == "Task 1 renamed"
        doc = await owner.fetchrow("SELECT source, provenance FROM rag.documents WHERE external_id = 'knowledge.article/1'")
        assert doc["source"] == "odoo:prod" and doc["provenance"]["uri"] == "odoo://prod/knowledge.article/1"
        answer = await services.assistant.ask("Within how many days are refunds issued?", tenant_id="default")
        assert answer.grounded and "14 days" in answer.answer
    finally:
        fake.stop()


async def test_knowledge_documents_follow_odoo_updates_and_deletes(services: Services, owner: asyncpg.Pool) -> None:
    await add_instance(services)
    ledger = Ledger(services)
    handlers = ChangeHandlers(services, frozenset({"knowledge.article"}))
    steps = [("write", "2026-01-01 00:00:00", "Old text about returns."),
             ("write", "2026-01-03 00:00:00", "New text about returns."),
             ("write", "2026-01-02 00:00:00", "Stale text delivered late.")]
    for kind, wd, body_text in steps:
        body = event("knowledge.article", 42, wd, kind=kind, name="Returns", body=body_text)
        await ledger.receive("prod", body, headers(body), None, None)
    await ledger.worker(handlers).drain()
    content = await owner.fetchval("SELECT content FROM rag.documents WHERE external_id = 'knowledge.article/42'")
    assert content == "New text about returns."
    gone = event("knowledge.article", 42, "2026-01-04 00:00:00", kind="unlink")
    await ledger.receive("prod", gone, headers(gone), None, None)
    await ledger.worker(handlers).drain()
    assert await owner.fetchval("SELECT count(*) FROM rag.documents WHERE external_id = 'knowledge.article/42'") == 0


async def test_github_webhooks_share_the_ledger(client: AsyncTestClient, services: Services, owner: asyncpg.Pool) -> None:
    body = json.dumps({"action": "opened", "repository": {"full_name": "ipai/odoo-addons"}}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    h = {"x-hub-signature-256": signature, "x-github-event": "pull_request", "x-github-delivery": "d-1",
         "content-type": "application/json"}
    r = await client.post("/v1/github/webhook?instance=prod", content=body, headers=h)
    assert r.status_code == 202, r.text
    row = await owner.fetchrow("SELECT source, event_id, event_type, aggregate_id FROM odoo.webhook_events")
    assert tuple(row) == ("github", "d-1", "pull_request.opened", "ipai/odoo-addons")  # typed: event and action
    for delivery in ("d-2", "d-3"):  # the same signed body replayed under new delivery ids: one event
        r = await client.post("/v1/github/webhook?instance=prod", content=body, headers={**h, "x-github-delivery": delivery})
        assert r.status_code == 200 and r.json()["duplicate"], r.text
    assert await owner.fetchval("SELECT count(*) FROM odoo.webhook_events WHERE source = 'github'") == 1
    r = await client.post("/v1/github/webhook?instance=prod", content=body, headers={**h, "x-hub-signature-256": "sha256=00"})
    assert r.status_code == 401


async def test_hostile_webhooks_are_4xx_never_500(client: AsyncTestClient) -> None:
    body = event("project.project", 7, "2026-01-01 10:00:00", name="Rollout")
    r = await client.post("/v1/odoo/webhook", content=body,
                          headers={**headers(body), "x-ipai-timestamp": "9" * 309, "x-ipai-signature": "00" * 32})
    assert r.status_code == 401 and "Unix seconds" in r.json()["detail"]  # was an OverflowError before the HMAC
    deep = b'{"event_type": "write", "aggregate_type": "x", "aggregate_id": 1, "payload": ' + b'{"a": ' * 1000 + \
        b"1" + b"}" * 1001
    nul = b'{"event_type": "wr\\u0000ite", "aggregate_type": "x", "aggregate_id": 1, "payload": {}}'
    nul_payload = b'{"event_type": "write", "aggregate_type": "x", "aggregate_id": 1, "payload": {"a": "\\u0000"}}'
    long_id = json.dumps({"event_type": "write", "aggregate_type": "x", "aggregate_id": 1, "payload": {},
                          "event_id": "e" * 10_000}).encode()
    for hostile, fragment in ((deep, "nests deeper"), (nul, "NUL"), (nul_payload, "NUL"), (long_id, "event_id")):
        r = await client.post("/v1/odoo/webhook", content=hostile, headers=headers(hostile))
        assert r.status_code == 422 and fragment in r.json()["detail"], r.text
    for payload, extra in ((b'{"repository": "str"}', {}), (b'{"a": "\\u0000"}', {}),
                           (b'{"action": "x"}', {"x-github-delivery": "d" * 10_000})):
        signature = "sha256=" + hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
        h = {"x-hub-signature-256": signature, "x-github-event": "push", "x-github-delivery": "d-9",
             "content-type": "application/json", **extra}
        r = await client.post("/v1/github/webhook?instance=prod", content=payload, headers=h)
        assert r.status_code in (202, 422), r.text
        if payload == b'{"repository": "str"}':
            assert r.status_code == 202  # a repository that is no object names no repository
        else:
            assert r.status_code == 422


async def test_rejection_floods_are_aggregated_and_audits_expire(client: AsyncTestClient, services: Services,
                                                                 owner: asyncpg.Pool) -> None:
    body = event("project.project", 7, "2026-01-01 10:00:00", name="Rollout")
    bad = {**headers(body), "x-ipai-signature": "00" * 32, "user-agent": "x" * 8192}
    for _ in range(50):
        assert (await client.post("/v1/odoo/webhook", content=body, headers=bad)).status_code == 401
    rows = await owner.fetch("SELECT user_agent, repeated FROM odoo.event_log WHERE kind = 'rejected'")
    assert len(rows) == 1 and len(rows[0]["user_agent"]) <= 256, "one row per window, the header cut"
    assert rows[0]["repeated"] == 1  # the 49 after it are counted into the window's next row
    # Retention: rows older than AUDIT_RETENTION_DAYS go, through the definer function only.
    await owner.execute("INSERT INTO odoo.event_log (kind, status, created_at) VALUES "
                        "('status', 'old', now() - interval '400 days')")
    await owner.execute("INSERT INTO control_plane.audit_log (bot_id, secret_name, access_type, allowed, created_at) "
                        "VALUES ('b', 's', 'read', true, now() - interval '400 days')")
    async with services.db.pool.acquire() as conn:
        removed = await conn.fetchrow("SELECT * FROM odoo.prune_audit_v1(365)")
        assert (removed["event_log"], removed["audit_log"]) == (1, 1)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM odoo.event_log")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await owner.execute("DELETE FROM odoo.event_log")
    assert await owner.fetchval("SELECT count(*) FROM odoo.event_log WHERE kind = 'rejected'") == 1
