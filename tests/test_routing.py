"""Event routing to n8n-style receivers: routes stored per tenant, matched on the events the bridge receives
(GitHub pull requests, Odoo journal entries), delivered once each, signed, retried, dead-lettered, replayed."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from app.odoo.handlers import ChangeHandlers
from app.odoo.ledger import Ledger
from app.odoo.scheduler import Scheduler
from app.odoo.secrets import OUTBOUND_SECRET
from app.odoo.signatures import sign
from app.services import Services
from sql.db import Database
from tests.conftest import CountingEmbedder, login, make_settings
from tests.test_odoo_bridge import SECRET, add_instance, event, headers

OUTBOUND = "whsec_outbound_for_routes_42"


class Receiver:
    """A local n8n stand-in: records each delivery; answers `status` (settable)."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def deliveries(self, path: str) -> list[dict[str, object]]:
        return [json.loads(body) for p, _, body in self.received if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
async def client(db_url: str, tmp_path: Path, services: Services) -> AsyncIterator[AsyncTestClient]:
    await add_instance(services)
    await services.vault.put("default", OUTBOUND_SECRET, OUTBOUND)
    app = create_app(make_settings(db_url, tmp_path), embedder=CountingEmbedder(), database=Database(db_url),
                     run_worker=False)
    async with AsyncTestClient(app) as c:
        await login(c, db_url)
        yield c


async def run_workers(services: Services) -> None:
    """What `sync worker` does, to completion: process received events, then deliver what they routed."""
    await Ledger(services).worker(ChangeHandlers(services, frozenset())).drain()
    async with httpx.AsyncClient(timeout=10) as http:
        await Scheduler(services).delivery_worker(http).drain()


def github(action: str, number: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"action": action, "number": number, "repository": {"full_name": "ipai/odoo-addons"},
                       "pull_request": {"number": number, "title": "Add invoice sync", "state": "open",
                                        "user": {"login": "ana"}}}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"x-hub-signature-256": signature, "x-github-event": "pull_request",
                  "x-github-delivery": f"gh-{action}-{number}", "content-type": "application/json"}


async def test_events_reach_the_routes_they_match_once_and_signed(client: AsyncTestClient, services: Services,
                                                                  receiver: Receiver) -> None:
    r = await client.put("/v1/routes/pr-to-task", json={"source": "github", "event_type": "pull_request.opened",
                                                         "url": f"{receiver.url}/pr"})
    assert r.status_code == 201, r.text
    r = await client.put("/v1/routes/posted-moves", json={"source": "odoo", "aggregate_type": "account.move",
                                                          "predicate": {"state": "posted"}, "url": f"{receiver.url}/finance"})
    assert r.status_code == 201
    dry = await client.post("/v1/routes/match", json={"source": "github", "event_type": "pull_request.opened",
                                                      "aggregate_type": "github.repository"})
    assert dry.json() == {"routes": ["pr-to-task"]} and not receiver.received, "a dry run sends nothing"

    for action, number in (("opened", 12), ("closed", 12)):
        body, h = github(action, number)
        assert (await client.post("/v1/github/webhook?instance=prod", content=body, headers=h)).status_code == 202
    for odoo_id, state in ((7, "posted"), (8, "draft")):
        body = event("account.move", odoo_id, "2026-01-01 10:00:00", state=state, name=f"INV/{odoo_id}")
        assert (await client.post("/v1/odoo/webhook", content=body, headers=headers(body))).status_code == 202
    await run_workers(services)
    await run_workers(services)  # nothing left: once is once

    [pr] = receiver.deliveries("/pr")
    assert pr["event_type"] == "pull_request.opened" and pr["summary"]["number"] == 12
    assert pr["summary"]["author"] == "ana"
    [move] = receiver.deliveries("/finance")
    assert move["aggregate_type"] == "account.move" and move["payload"]["state"] == "posted"
    for _, h, body in receiver.received:
        assert h["x-ipai-signature"] == sign(OUTBOUND, h["x-ipai-timestamp"], body)
        assert h["x-ipai-delivery"] and h["x-ipai-route"] in ("pr-to-task", "posted-moves")
    deliveries = (await client.get("/v1/routes/deliveries")).json()
    assert {(d["route_name"], d["status"], d["response_status"]) for d in deliveries} == {
        ("pr-to-task", "delivered", 200), ("posted-moves", "delivered", 200)}

    # A route changed takes effect at the next event, without a restart.
    await client.put("/v1/routes/pr-to-task", json={"source": "github", "event_type": "pull_request.opened",
                                                    "url": f"{receiver.url}/pr-v2"})
    body, h = github("opened", 13)
    await client.post("/v1/github/webhook?instance=prod", content=body, headers=h)
    await run_workers(services)
    assert len(receiver.deliveries("/pr-v2")) == 1 and len(receiver.deliveries("/pr")) == 1


async def test_a_failing_receiver_is_retried_then_dead_lettered_then_replayed(
        client: AsyncTestClient, services: Services, receiver: Receiver, owner: asyncpg.Pool) -> None:
    await client.put("/v1/routes/finance", json={"source": "odoo", "aggregate_type": "account.move",
                                                 "url": f"{receiver.url}/finance"})
    receiver.status = 500
    body = event("account.move", 9, "2026-01-01 10:00:00", state="posted")
    await client.post("/v1/odoo/webhook", content=body, headers=headers(body))
    await run_workers(services)
    [delivery] = (await client.get("/v1/routes/deliveries")).json()
    assert (delivery["status"], delivery["attempts"], delivery["response_status"]) == ("failed", 1, 500)
    for _ in range(10):  # the backoff's waits, skipped: each attempt fails until the job is dead
        await owner.execute("UPDATE rag.jobs SET run_at = now() WHERE queue = 'outbound' AND status = 'pending'")
        await run_workers(services)
    [delivery] = (await client.get("/v1/routes/deliveries")).json()
    assert delivery["status"] == "dead" and delivery["attempts"] == 6
    assert len(receiver.deliveries("/finance")) == 6

    receiver.status = 200
    r = await client.post(f"/v1/routes/deliveries/{delivery['delivery_id']}/replay")
    assert r.status_code == 202, r.text
    await run_workers(services)
    [delivery] = (await client.get("/v1/routes/deliveries")).json()
    assert delivery["status"] == "delivered" and delivery["response_status"] == 200
    ids = {h["x-ipai-delivery"] for _, h, _ in receiver.received}
    assert ids == {delivery["delivery_id"]}, "every attempt carries the same delivery id (the receiver dedupes)"
    assert (await client.post(f"/v1/routes/deliveries/{delivery['delivery_id']}/replay")).status_code == 404


async def test_routes_belong_to_their_tenant(client: AsyncTestClient, db_url: str) -> None:
    from tests.conftest import bearer, issue_key

    await client.put("/v1/routes/mine", json={"source": "odoo", "url": "http://n8n.example/hook"})
    other = bearer(await issue_key(db_url, "globex"))
    assert (await client.get("/v1/routes", headers=other)).json() == []
    assert (await client.delete("/v1/routes/mine", headers=other)).status_code == 404
    r = await client.post("/v1/routes/match", headers=other, json={"source": "odoo", "event_type": "write"})
    assert r.json() == {"routes": []}
    assert [x["name"] for x in (await client.get("/v1/routes")).json()] == ["mine"]
    assert (await client.put("/v1/routes/bad", json={"source": "odoo", "url": "ftp://x"})).status_code == 422


def test_the_cli_puts_lists_matches_and_deletes_routes(db_url: str, tmp_path: Path) -> None:
    from tests.test_cli import run

    put = run(["routes", "put", "posted", "--source", "odoo", "--aggregate-type", "account.move",
               "--predicate", '{"state": "posted"}', "--url", "http://n8n.example/webhook/finance"], db_url, tmp_path)
    assert put.returncode == 0 and "created" in put.stdout, put.stderr
    assert "http://n8n.example/webhook/finance" in run(["routes", "list"], db_url, tmp_path).stdout
    args = ["routes", "match", "--source", "odoo", "--event-type", "write", "--aggregate-type", "account.move"]
    assert run([*args, "--payload", '{"state": "posted", "id": 4}'], db_url, tmp_path).stdout.strip() == "posted"
    assert "no route" in run([*args, "--payload", '{"state": "draft"}'], db_url, tmp_path).stdout
    bad = run(["routes", "put", "x", "--source", "odoo", "--url", "ftp://nope"], db_url, tmp_path)
    assert bad.returncode != 0 and "url" in bad.stderr
    assert run(["routes", "delete", "posted"], db_url, tmp_path).returncode == 0
    assert run(["routes", "delete", "posted"], db_url, tmp_path).returncode == 2
