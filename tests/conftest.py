"""Fixtures: one embedded PostgreSQL per session, a fresh migrated database per test, real services."""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import asyncpg
import httpx
import numpy as np
import pytest

from sql.db import Database, Db, EmbeddedPostgres, init_connection, migrate, with_database
from app.security.keys import create_key
from app.services import Services
from app.settings import ChunkSettings, DatabaseSettings, EmbeddingSettings, ServerSettings, Settings
from ingest.embedding import HashEmbedder
from tests.openai_server import FakeOpenAI

TEMPLATE = "ipai_template"
S3_BUCKET = "ipai-test"
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded server (DATABASE_URL in the environment is ignored: tests own their server)."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    url = server.start()

    async def make_template() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            await conn.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await conn.close()
        conn = await asyncpg.connect(with_database(url, TEMPLATE))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(make_template())
    yield url
    server.stop()


async def _admin(pg_url: str, sql: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _scratch(pg_url: str, prefix: str, template: str | None) -> AsyncIterator[str]:
    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    await _admin(pg_url, f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    yield with_database(pg_url, name)
    await _admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
async def db_url(pg_url: str) -> AsyncIterator[str]:
    """A fresh database with every migration applied (a copy of the migrated template)."""
    async for url in _scratch(pg_url, "t", TEMPLATE):
        yield url


@pytest.fixture
async def empty_db_url(pg_url: str) -> AsyncIterator[str]:
    """A database with nothing in it (for migration tests)."""
    async for url in _scratch(pg_url, "e", None):
        yield url


def make_settings(db_url: str, tmp_path: Path, **server: object) -> Settings:
    return Settings(
        database=DatabaseSettings(url=db_url, data_dir=tmp_path, pool_min=1, pool_max=5),
        embedding=EmbeddingSettings(provider="hash", model="hash", dimensions=384, batch_size=64),
        chunks=ChunkSettings(size=512, overlap=64),
        server=ServerSettings(**{"run_worker": False, **server}),  # type: ignore[arg-type]
    )


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting what it is asked to embed (to test hash-based no-ops)."""

    def __init__(self, dimensions: int = 384) -> None:
        super().__init__(dimensions)
        self.calls = 0
        self.texts: list[str] = []

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts.extend(texts)
        return await super().embed(texts)


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
async def services(db_url: str, tmp_path: Path, embedder: CountingEmbedder) -> AsyncIterator[Services]:
    s = await Services.start(make_settings(db_url, tmp_path), embedder=embedder, database=Database(db_url))
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def owner(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The database owner's pool (a superuser: row-level security does not apply) for checking rows."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2, init=init_connection)
    yield pool
    await pool.close()


async def issue_key(db_url: str, tenant: str = "default", scopes: Sequence[str] = ("admin",)) -> str:
    """A fresh API key of the tenant, created as the owner (works while the app runs in another loop)."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=1)
    try:
        return (await create_key(Db(pool, db_url), tenant, list(scopes), "test"))[1]
    finally:
        await pool.close()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def login(client: object, db_url: str, tenant: str = "default", scopes: Sequence[str] = ("admin",)) -> str:
    """Give a test client an API key of the tenant on every request; returns the key."""
    token = await issue_key(db_url, tenant, scopes)
    client.headers.update(bearer(token))  # type: ignore[attr-defined]
    return token


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    """A real S3 protocol server (moto's server mode) on a free port, with one bucket; tests keep apart by
    prefix."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    httpx.put(f"{url}/{S3_BUCKET}").raise_for_status()
    yield url
    server.stop()
