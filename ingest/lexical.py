"""The lexical backlog of bulk loads (migration 0012): indexes it for BM25 in large set-based passes; a load
into a tenant without postings builds the tenant's postings indexes once, after it (migration 0013)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

from app.db import Db


async def defer_lexical_indexing(conn: asyncpg.Connection) -> None:
    """Send the chunks this transaction inserts to the lexical backlog instead of indexing them in the
    inserting statement (the insert trigger of migration 0012 reads this setting)."""
    await conn.execute("SELECT set_config('rag.defer_lexical', 'on', true)")


@dataclass
class BacklogLoad:
    """One bulk load's part in the backlog: the tenants it deferred chunks of, and a wake-up for the drain."""

    tenants: set[str] = field(default_factory=set)
    index_deferred: set[str] = field(default_factory=set)  # tenants whose postings indexes wait for the load
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    batches: int = 0
    finishing: bool = False
    task: asyncio.Task[None] | None = None

    def deferred(self, tenant_id: str) -> None:
        self.tenants.add(tenant_id)
        self.wake.set()


class LexicalBacklog:
    """Drains a tenant's backlog (postings and statistics of chunks a load stored without them)."""

    # A pass holds the tenant's statistics lock, which a single insert into that tenant (an API write)
    # waits for: passes of 1,024 chunks keep that wait under about 0.75 s during a bulk load (1.5-1.9 s
    # with 4,096) at a cost to the load within this machine's noise (`ipai-rag bench ingest`).
    def __init__(self, db: Db, *, lease_seconds: float, pass_size: int = 1024) -> None:
        self.db = db
        self.pass_size = pass_size
        self.lease_seconds = lease_seconds
        self._indexed: set[str] = set()  # tenants seen with postings: they keep their indexes, no need to ask

    async def defer_index(self, load: BacklogLoad, tenant_id: str) -> None:
        """Before each of a load's batches: a tenant without postings gets its postings indexes built once
        after the load instead of row by row; while they wait, each batch extends the load's lease."""
        if tenant_id in self._indexed:
            return
        if await self.db.pool.fetchval("SELECT rag.defer_lexical_index_v1($1, $2)", tenant_id, self.lease_seconds):
            load.index_deferred.add(tenant_id)
        else:
            load.index_deferred.discard(tenant_id)
            self._indexed.add(tenant_id)

    async def build_index(self, tenant_id: str, release: bool = False) -> bool:
        """Build the tenant's deferred postings indexes if its load's lease is over (release: end it first)."""
        return bool(await self.db.pool.fetchval("SELECT rag.build_lexical_index_v1($1, $2)", tenant_id, release))

    async def drain(self, tenant_id: str) -> int:
        """Index the tenant's whole backlog, pass_size chunks per transaction; the number indexed."""
        total = 0
        while taken := await self.db.tenant(tenant_id).fetchval("SELECT rag.index_backlog_v2($1)", self.pass_size):
            total += taken
        return total

    async def stats(self, tenant_id: str) -> dict[str, float]:
        """The tenant's backlog: chunks waiting for BM25 indexing and the age of the oldest (0 if none)."""
        row = await self.db.tenant(tenant_id).fetchrow(
            """SELECT count(*) AS chunks, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest
                 FROM rag.lexical_backlog""")
        return {"chunks": row["chunks"], "oldest_seconds": float(row["oldest"])}

    async def recover(self, older_than_seconds: float) -> int:
        """Drain every tenant's backlog that holds an entry older than the given age, and build the postings
        indexes whose load's lease ran out (a load that died); the number of chunks indexed."""
        tenants = await self.db.pool.fetch("SELECT t FROM rag.stale_lexical_backlog_v1($1) AS t", older_than_seconds)
        total = 0
        for row in tenants:
            total += await self.drain(row["t"])
        for row in await self.db.pool.fetch("SELECT t FROM rag.stale_lexical_index_deferrals_v1() AS t"):
            await self.build_index(row["t"])
        return total

    def start(self) -> BacklogLoad:
        """A load's drain: runs beside the load on its own connection whenever a batch was deferred."""
        load = BacklogLoad()

        async def loop() -> None:
            while not load.finishing:
                await load.wake.wait()
                load.wake.clear()
                for tenant_id in sorted(load.tenants):
                    await self.drain(tenant_id)

        load.task = asyncio.create_task(loop())
        return load

    async def finish(self, load: BacklogLoad) -> None:
        """The load's end (also when it failed: what it committed gets indexed): drains the rest, then
        builds the postings indexes it deferred."""
        load.finishing = True
        load.wake.set()
        try:
            if load.task is not None:
                await load.task
        finally:
            for tenant_id in sorted(load.tenants):
                await self.drain(tenant_id)
            for tenant_id in sorted(load.index_deferred):
                await self.build_index(tenant_id, release=True)
