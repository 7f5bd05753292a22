"""Several replicas on one PostgreSQL, as separate processes: two `serve` and two `worker` and two `sync worker`
on the test database. A burst through both replicas is limited as one key's limit; a realtime subscriber on one
replica gets what was published through the other; a key revoked in the database is refused by both at once; 5,000 embedding jobs are each done once; a due scheduled job
fires once."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import bearer, issue_key
from tests.test_realtime import read_events

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    def __init__(self, db_url: str, data_dir: Path) -> None:
        self.env = {**os.environ, "DATABASE_URL": db_url, "EMBEDDING_PROVIDER": "hash", "IPAI_DATA_DIR": str(data_dir),
                    "RUN_WORKER": "0", "RATE_LIMIT_PER_MINUTE": "60", "RATE_LIMIT_BURST": "10",
                    "RATE_LIMIT_REPLICAS": "2", "LOG_FORMAT": "text", "IPAI_DEV_KEY": "0"}
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-m", "app.cli", *args], env=self.env, cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.running.append(process)
        return process

    def serve(self) -> str:
        port = free_port()
        self.start("serve", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/livez", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("a replica did not start")

    def stop(self) -> None:
        for process in self.running:
            process.terminate()
        for process in self.running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def processes(db_url: str, tmp_path: Path) -> Iterator[Processes]:
    p = Processes(db_url, tmp_path / "data")
    try:
        yield p
    finally:
        p.stop()


async def test_two_replicas_and_two_workers_on_one_database(processes: Processes, db_url: str, tmp_path: Path,
                                                            owner: asyncpg.Pool) -> None:
    a = await asyncio.to_thread(processes.serve)
    b = await asyncio.to_thread(processes.serve)
    async with httpx.AsyncClient(timeout=30) as http:
        # A burst of one key through both replicas is limited as one: burst 10, five per replica.
        burst = bearer(await issue_key(db_url))
        statuses = [(await http.get(f"{url}/v1/jobs", headers=burst)).status_code for url in (a, b) * 10]
        assert statuses.count(200) == 10 and statuses.count(429) == 10

        # A subscriber on replica A gets what is published through replica B.
        key = bearer(await issue_key(db_url, scopes=["sync"]))
        async with http.stream("GET", f"{a}/v1/realtime/notifications", headers=key) as stream:
            lines = stream.aiter_lines()
            await asyncio.wait_for(anext(lines), 10)  # the stream's opening comment
            assert (await http.post(f"{b}/v1/realtime/notifications", headers=key,
                                    json={"payload": {"from": "b"}})).status_code == 201
            [(_, event, data)] = await asyncio.wait_for(read_events(lines, 1), 10)
            assert event == "notifications" and data == {"from": "b"}

        # A key both replicas verified (and hold in memory), revoked in the database: both refuse it at once.
        token = await issue_key(db_url)
        assert [(await http.get(f"{url}/v1/jobs", headers=bearer(token))).status_code for url in (a, b)] == [200, 200]
        await owner.execute("UPDATE control_plane.api_keys SET revoked_at = now() WHERE prefix = $1",
                            token.split("_")[1])
        refused_after = time.monotonic() + 2
        for url in (a, b):
            while (status := (await http.get(f"{url}/v1/jobs", headers=bearer(token))).status_code) != 401:
                assert time.monotonic() < refused_after, f"a revoked key still served by a replica ({status})"
                await asyncio.sleep(0.05)

    # 5,000 documents ingested without waiting; two worker processes embed them: each job done once.
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"_id": f"d{i}", "text": f"Document {i} about invoices and stock."})
                                for i in range(5000)))
    ingest = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "app.cli", "ingest", str(corpus)],
                                     env=processes.env, cwd=ROOT, capture_output=True, timeout=300)
    assert ingest.returncode == 0, ingest.stderr.decode()[-2000:]
    # A scheduled job due now, that two bridge workers could both fire.
    await owner.execute("UPDATE odoo.scheduled_jobs SET enabled = false")
    await owner.execute("UPDATE odoo.scheduled_jobs SET enabled = true, next_run_at = now() - interval '1 minute', "
                        "cron = '0 0 1 1 *' WHERE name = 'reminders'")
    for _ in range(2):
        processes.start("worker", "--concurrency", "1")
        processes.start("sync", "worker")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if not await owner.fetchval("SELECT count(*) FROM rag.jobs WHERE queue = 'embed' AND status <> 'done'"):
            break
        await asyncio.sleep(0.5)
    jobs = await owner.fetchrow("SELECT count(*) AS n, count(*) FILTER (WHERE status = 'done') AS done, "
                                "max(attempts) AS most FROM rag.jobs WHERE queue = 'embed'")
    # 5,000 and the sample knowledge base the replicas loaded: each job done, and in one attempt
    assert jobs["n"] >= 5000 and jobs["done"] == jobs["n"] and jobs["most"] == 1, dict(jobs)
    assert await owner.fetchval("SELECT count(*) FROM rag.chunk_embeddings") == \
        await owner.fetchval("SELECT count(*) FROM rag.chunks") >= 5000
    async def fired() -> int:
        return await owner.fetchval("SELECT count(*) FROM rag.jobs WHERE queue = 'outbound' AND payload ->> 'job' = "
                                    "'reminders'")

    while time.monotonic() < deadline and not await fired():
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # both bridge workers have ticked by now
    assert await fired() == 1


async def test_processes_with_their_own_data_folders_share_the_service_role_login(db_url: str, tmp_path: Path) -> None:
    """The service role's password is generated once and kept in the database: a second process (its own data
    folder) connects with the same one instead of setting a login of its own. (The embedded server trusts local
    connections, so the URLs are compared rather than a login tried.)"""
    from app.services import Services
    from sql.db import Database
    from tests.conftest import CountingEmbedder, make_settings

    first = await Services.start(make_settings(db_url, tmp_path / "a"), embedder=CountingEmbedder(),
                                 database=Database(db_url))
    second = await Services.start(make_settings(db_url, tmp_path / "b"), embedder=CountingEmbedder(),
                                  database=Database(db_url))
    try:
        assert first.db.url == second.db.url
        owner = await asyncpg.connect(db_url)
        stored = await owner.fetchval("SELECT password FROM control_plane.app_role_login")
        await owner.close()
        assert f":{stored}@" in first.db.url  # token_urlsafe: nothing to quote
        assert not (tmp_path / "a" / "app-role.password").exists(), "nothing secret in the data folder"
    finally:
        await second.close()
        await first.close()
