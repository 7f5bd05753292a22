"""The lexical backlog of bulk loads (migration 0012): indexes it for BM25 in large set-based passes; a load
into a tenant without postings builds the tenant's postings and trigram indexes once, after it (migrations
0013, 0017)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

from sql.db import Db
from sql.queries import q


async def defer_lexical_indexing(conn: asyncpg.Connection) -> None:
    """Send the chunks this transaction inserts to the lexical backlog instead of indexing them in the
    inserting statement (the insert trigger of migration 0012 reads this setting)."""
    await conn.execute(q("lexical_defer_in_transaction"))


@dataclass
class BacklogLoad:
    """One bulk load's part in the backlog: the tenants it deferred chunks of, with how many of those chunks
    await a pass, and a wake-up for the drain once a full pass is waiting."""

    pass_size: int
    pending: dict[str, int] = field(default_factory=dict)  # by tenant
    index_deferred: set[str] = field(default_factory=set)  # tenants whose lexical indexes wait for the load
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    batches: int = 0
    finishing: bool = False
    task: asyncio.Task[None] | None = None

    def deferred(self, tenant_id: str, chunks: int) -> None:
        self.pending[tenant_id] = self.pending.get(tenant_id, 0) + chunks
        if self.pending[tenant_id] >= self.pass_size:
            self.wake.set()


class LexicalBacklog:
    """Drains a tenant's backlog (postings and statistics of chunks a load stored without them)."""

    # A pass holds the tenant's statistics lock, which a single insert into that tenant (an API write)
    # waits for: passes of 1,024 chunks keep that wait under about 0.75 s during a bulk load (1.5-1.9 s
    # with 4,096) at a cost to the load within this machine's noise (`ipai-rag bench ingest`).
    # During a load, the drain waits for a full pass: the benchmark's 9,434 chunks took 1.44 s in one
    # pass, 1.81 s in passes of 1,024 and 2.6 s in passes of 256 (each pass upserts the terms it shares
    # with the others again), and a load's batches defer a few hundred chunks each.
    def __init__(self, db: Db, *, lease_seconds: float, pass_size: int = 1024) -> None:
        self.db = db
        self.pass_size = pass_size
        self.lease_seconds = lease_seconds
        self._indexed: set[str] = set()  # tenants seen with postings: they keep their indexes, no need to ask

    async def defer_index(self, load: BacklogLoad, tenant_id: str) -> None:
        """Before each of a load's batches: a tenant without postings gets its lexical indexes built once
        after the load instead of row by row; while they wait, each batch extends the load's lease."""
        if tenant_id in self._indexed:
            return
        if await self.db.pool.fetchval(q("lexical_defer_index"), tenant_id, self.lease_seconds):
            load.index_deferred.add(tenant_id)
        else:
            load.index_deferred.discard(tenant_id)
            self._indexed.add(tenant_id)

    async def build_index(self, tenant_id: str, release: bool = False) -> bool:
        """Build the tenant's deferred lexical indexes if its load's lease is over (release: end it first)."""
        return bool(await self.db.pool.fetchval(q("lexical_build_index"), tenant_id, release))

    async def drain(self, tenant_id: str) -> int:
        """Index the tenant's whole backlog, pass_size chunks per transaction; the number indexed."""
        total = 0
        while taken := await self._pass(tenant_id):
            total += taken
        return total

    async def _pass(self, tenant_id: str) -> int:
        """Index up to pass_size of the tenant's oldest backlog chunks in one transaction; how many."""
        return int(await self.db.tenant(tenant_id).fetchval(q("lexical_index_backlog"), self.pass_size))

    async def stats(self, tenant_id: str) -> dict[str, float]:
        """The tenant's backlog: chunks waiting for BM25 indexing and the age of the oldest (0 if none)."""
        row = await self.db.tenant(tenant_id).fetchrow(
            q("lexical_backlog_size"))
        return {"chunks": row["chunks"], "oldest_seconds": float(row["oldest"])}

    async def recover(self, older_than_seconds: float) -> int:
        """Drain every tenant's backlog that holds an entry older than the given age, and build the lexical
        indexes whose load's lease ran out (a load that died); the number of chunks indexed."""
        tenants = await self.db.pool.fetch(q("lexical_stale_backlogs"), older_than_seconds)
        total = 0
        for row in tenants:
            total += await self.drain(row["t"])
        for row in await self.db.pool.fetch(q("lexical_stale_deferrals")):
            await self.build_index(row["t"])
        return total

    def start(self) -> BacklogLoad:
        """A load's drain: runs beside the load on its own connection, a full pass at a time, whenever its
        batches have deferred that many chunks of a tenant; the load's end indexes the rest."""
        load = BacklogLoad(self.pass_size)

        async def loop() -> None:
            while not load.finishing:
                await load.wake.wait()
                load.wake.clear()
                for tenant_id in sorted(load.pending):
                    while load.pending[tenant_id] >= self.pass_size and not load.finishing:
                        taken = await self._pass(tenant_id)
                        load.pending[tenant_id] = max(0, load.pending[tenant_id] - taken) if taken else 0

        load.task = asyncio.create_task(loop())
        return load

    async def finish(self, load: BacklogLoad) -> None:
        """The load's end (also when it failed: what it committed gets indexed): drains the rest, then
        builds the lexical indexes it deferred."""
        load.finishing = True
        load.wake.set()
        try:
            if load.task is not None:
                await load.task
        finally:
            for tenant_id in sorted(load.pending):
                await self.drain(tenant_id)
            for tenant_id in sorted(load.index_deferred):
                await self.build_index(tenant_id, release=True)
