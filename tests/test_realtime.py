"""Realtime SSE channels over real HTTP: live messages, resume with Last-Event-ID, producers' triggers."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import asyncpg
import pytest

from app.asgi import create_app
from app.realtime.controllers import KEEPALIVE_SECONDS
from sql.db import Database
from app.services import Services
from tests.conftest import CountingEmbedder, bearer, issue_key, make_settings
from tests.live_server import LiveServer
from tests.test_cli import run


@pytest.fixture
async def live(db_url: str, tmp_path: Path, services: Services) -> AsyncIterator[LiveServer]:
    app = create_app(make_settings(db_url, tmp_path), embedder=CountingEmbedder(), database=Database(db_url))
    with LiveServer(app) as server:
        server.token = await issue_key(db_url, scopes=["sync"])
        yield server


async def read_events(lines: AsyncIterator[str], n: int) -> list[tuple[str, str, dict]]:
    events, current = [], {}
    async for line in lines:
        if line.startswith("id:"):
            current["id"] = line[3:].strip()
        elif line.startswith("event:"):
            current["event"] = line[6:].strip()
        elif line.startswith("data:") and line[5:].strip():  # comments come with an empty data line
            current["data"] = json.loads(line[5:].strip())
        elif line == "":
            if "data" in current:  # as EventSource does, an event without data is not dispatched
                events.append((current["id"], current["event"], current["data"]))
            current = {}
            if len(events) == n:
                return events
    return events


async def test_resume_with_last_event_id_then_live(live: LiveServer, db_url: str) -> None:
    other = bearer(await issue_key(db_url, "b", ["sync"]))  # another tenant on the same channel: never seen
    async with httpx.AsyncClient(base_url=live.url, timeout=20, headers=bearer(live.token)) as client:
        ids = []
        for i in range(3):
            r = await client.post("/v1/realtime/approvals", json={"payload": {"n": i}})
            assert r.status_code == 201
            ids.append(r.json()["id"])
            await client.post("/v1/realtime/approvals", json={"payload": {"n": f"b{i}"}}, headers=other)
        async with client.stream("GET", "/v1/realtime/approvals", headers={"Last-Event-ID": str(ids[0])}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            missed = await asyncio.wait_for(read_events(lines, 2), 10)
            assert [(e[0], e[2]["n"]) for e in missed] == [(str(ids[1]), 1), (str(ids[2]), 2)]
            await client.post("/v1/realtime/approvals", json={"payload": {"n": "b-live"}}, headers=other)
            await client.post("/v1/realtime/approvals", json={"payload": {"n": 3}})
            await client.post("/v1/realtime/notifications", json={"payload": {"other": True}})
            [live_event] = await asyncio.wait_for(read_events(lines, 1), 10)
            assert live_event[1] == "approvals" and live_event[2] == {"n": 3}
        r = await client.get("/v1/realtime/gossip")
        assert r.status_code == 422


async def test_job_and_bridge_changes_are_published(services: Services, owner: asyncpg.Pool) -> None:
    from sql.queue import Queue

    queue = Queue(services.db, "test")
    async with owner.acquire() as conn:
        await queue.enqueue(conn, "t", {}, tenant_id="default")
    jobs = await queue.claim("w", 5)
    async with owner.acquire() as conn:
        await queue.complete(conn, jobs, "w")
    rows = await owner.fetch("SELECT channel, payload FROM rag.realtime_events ORDER BY id")
    assert [(r["channel"], r["payload"]["status"], r["payload"]["count"]) for r in rows] == [("jobs", "done", 1)]
    await owner.execute("INSERT INTO odoo.event_log (kind, status, reason) VALUES ('status', 'completed', 'x')")
    last = await owner.fetchrow("SELECT channel, payload FROM rag.realtime_events ORDER BY id DESC LIMIT 1")
    assert last["channel"] == "odoo-sync" and last["payload"]["status"] == "completed"


async def test_streams_share_one_listen_connection_and_are_capped(db_url: str, tmp_path: Path, owner: asyncpg.Pool
                                                                  ) -> None:
    settings = make_settings(db_url, tmp_path, max_streams=6, max_streams_per_caller=4)
    app = create_app(settings, embedder=CountingEmbedder(), database=Database(db_url))

    async def listening() -> int:
        return await owner.fetchval("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'")

    with LiveServer(app) as server:
        one, two = bearer(await issue_key(db_url, scopes=["sync"])), bearer(await issue_key(db_url, scopes=["sync"]))
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            streams = []
            for _ in range(4):
                stream = client.stream("GET", "/v1/realtime/notifications", headers=one)
                response = await stream.__aenter__()
                assert response.status_code == 200
                streams.append((stream, response.aiter_lines()))
                await asyncio.wait_for(anext(streams[-1][1]), 10)  # the stream's opening comment
            r = await client.get("/v1/realtime/notifications", headers=one)
            assert r.status_code == 429 and r.headers["retry-after"] and "realtime streams" in r.json()["detail"]
            for _ in range(2):  # another key still may, up to the process's cap
                stream = client.stream("GET", "/v1/realtime/notifications", headers=two)
                response = await stream.__aenter__()
                assert response.status_code == 200
                streams.append((stream, response.aiter_lines()))
                await asyncio.wait_for(anext(streams[-1][1]), 10)
            assert (await client.get("/v1/realtime/notifications", headers=two)).status_code == 429
            assert await listening() == 1, "six streams, one LISTEN connection"
            await client.post("/v1/realtime/notifications", json={"payload": {"n": 1}}, headers=one)
            for _, lines in streams:  # every subscriber gets the message through the one connection
                [(_, event, data)] = await asyncio.wait_for(read_events(lines, 1), 10)
                assert event == "notifications" and data == {"n": 1}
            for stream, _ in streams:
                await stream.__aexit__(None, None, None)
            status = 429
            for _ in range(50):  # a closed stream frees its place (once the server notices the disconnect)
                async with client.stream("GET", "/v1/realtime/notifications", headers=one) as response:
                    status = response.status_code
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert status == 200


async def test_two_hundred_streams_of_one_key_leave_the_database_to_others(db_url: str, tmp_path: Path,
                                                                            owner: asyncpg.Pool) -> None:
    """The per-key cap (20 by default) answers the rest with 429; the open ones share one LISTEN connection,
    so the command line (and a separate worker) can still connect and work."""
    settings = make_settings(db_url, tmp_path)
    app = create_app(settings, embedder=CountingEmbedder(), database=Database(db_url))
    with LiveServer(app) as server:
        key = bearer(await issue_key(db_url, scopes=["sync"]))
        limits = httpx.Limits(max_connections=250, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
            async def open_one() -> tuple[int, object]:
                stream = client.stream("GET", "/v1/realtime/notifications", headers=key)
                response = await stream.__aenter__()
                return response.status_code, stream

            opened = await asyncio.gather(*(open_one() for _ in range(200)))
            statuses = sorted(status for status, _ in opened)
            assert statuses.count(200) == settings.server.max_streams_per_caller
            assert statuses.count(429) == 200 - settings.server.max_streams_per_caller
            connections = await owner.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            assert connections <= 12, "the pool and one LISTEN connection, not one per stream"
            cli = await asyncio.to_thread(run, ["search", "anything"], db_url, tmp_path)
            assert cli.returncode == 0, cli.stderr
            for _, stream in opened:
                await stream.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_a_stream_outlives_the_loss_of_the_listen_connection(db_url: str, tmp_path: Path,
                                                                  owner: asyncpg.Pool) -> None:
    """The process's LISTEN connection killed under an open stream, with the API key cache off (no other user of
    the connection asks for it): the listener connects again by itself, and an event published after the loss
    arrives in seconds, not at the stream's next keepalive."""
    settings = make_settings(db_url, tmp_path)
    settings = replace(settings, security=replace(settings.security, key_cache_seconds=0))
    app = create_app(settings, embedder=CountingEmbedder(), database=Database(db_url))

    async def listen_pid() -> int | None:
        return await owner.fetchval("SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%ipai_realtime%'")

    with LiveServer(app) as server:
        key = bearer(await issue_key(db_url, scopes=["sync"]))
        async with httpx.AsyncClient(base_url=server.url, timeout=20, headers=key) as client:
            async with client.stream("GET", "/v1/realtime/approvals") as stream:
                lines = stream.aiter_lines()
                await asyncio.wait_for(anext(lines), 10)  # the opening comment: the stream listens
                lost = await listen_pid()
                assert lost is not None
                await owner.execute("SELECT pg_terminate_backend($1)", lost)
                for _ in range(100):
                    if (await listen_pid()) not in (None, lost):
                        break
                    await asyncio.sleep(0.05)
                assert (await listen_pid()) not in (None, lost), "the LISTEN connection is back by itself"
                r = await client.post("/v1/realtime/approvals", json={"payload": {"n": "after"}})
                assert r.status_code == 201
                [event] = await asyncio.wait_for(read_events(lines, 1), KEEPALIVE_SECONDS / 3)
                assert event[1] == "approvals" and event[2] == {"n": "after"}
