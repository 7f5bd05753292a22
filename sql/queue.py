"""A small PostgreSQL job queue: SKIP LOCKED claims under a lease, backoff retries, dead letter, replay."""
from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from sql.db import Db, Tenant
from sql.queries import q
from sql.values import storable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    id: int
    tenant_id: str
    queue: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


class LeaseLost(Exception):
    """The job's lease ran out and another worker may own it; this worker's effects are rolled back."""


Handler = Callable[[asyncpg.Connection, Sequence[Job]], Awaitable[None]]
FailureHook = Callable[[Job, str, str], Awaitable[None]]


REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
"""The request being served (X-Request-ID), or the request(s) whose jobs a worker is running: what log lines
name. A job records the request that enqueued it."""

_IDLE_WORKERS: dict[str, set[asyncio.Event]] = {}
"""This process' running workers, by queue: what Queue.wake rouses."""


class Queue:
    """One named queue in rag.jobs."""

    def __init__(
        self, db: Db, name: str, *, lease_seconds: float = 120.0, max_attempts: int = 5,
        backoff_base: float = 2.0, backoff_cap: float = 600.0,
    ) -> None:
        self.db = db
        self.name = name
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap

    def wake(self) -> None:
        """Rouse this process' idle workers of the queue: jobs were just committed (a worker elsewhere finds
        them at its next poll)."""
        for event in _IDLE_WORKERS.get(self.name, ()):
            event.set()

    async def enqueue(
        self, conn: asyncpg.Connection, kind: str, payload: dict[str, Any], *, tenant_id: str,
        dedupe_key: str | None = None, delay_seconds: float = 0.0,
    ) -> int | None:
        """Add a job inside the caller's transaction; None when a job of the same dedupe key is already waiting:
        that one takes this payload, and no worker claims it before the caller's transaction ends."""
        return await conn.fetchval(
            q("job_enqueue"),
            tenant_id, self.name, kind, _traced(payload), self.max_attempts, dedupe_key, delay_seconds,
        )

    async def enqueue_many(
        self, conn: asyncpg.Connection, kind: str, payloads: Sequence[dict[str, Any]], dedupe_keys: Sequence[str],
        *, tenant_id: str,
    ) -> int:
        """enqueue() for many jobs in one statement; returns how many were added (not already waiting)."""
        return await conn.fetchval(
            q("jobs_enqueue_many"),
            tenant_id, self.name, kind, self.max_attempts, [_traced(p) for p in payloads], list(dedupe_keys),
        )

    async def claim(self, worker_id: str, limit: int = 16) -> list[Job]:
        """Take up to `limit` due jobs of any tenant (pending, or running with an expired lease).

        Claiming crosses tenants, so it is the SECURITY DEFINER function rag.claim_jobs_v1; each job is then
        handled inside its own tenant's transaction."""
        rows = await self.db.pool.fetch(q("jobs_claim"),
                                        self.name, worker_id, limit, self.lease_seconds)
        return [Job(**dict(r)) for r in sorted(rows, key=lambda r: r["id"])]

    async def complete(self, conn: asyncpg.Connection, jobs: Sequence[Job], worker_id: str) -> None:
        """Mark jobs done in the caller's transaction; raises LeaseLost if any is no longer ours."""
        ids = [j.id for j in jobs]
        done = await conn.fetchval(
            q("jobs_complete"),
            ids, worker_id,
        )
        if done != len(ids):
            raise LeaseLost(f"{len(ids) - done} of jobs {ids} are no longer leased to {worker_id}")

    async def fail(self, job: Job, worker_id: str, error: str) -> str:
        """Record a failure: back to pending after a backoff, dead when attempts are used up, or done when a job
        of its dedupe key was enqueued meanwhile (only one may wait; that one does the work again)."""
        delay = min(self.backoff_cap, self.backoff_base ** job.attempts) * (0.5 + random.random() / 2)
        status = await self.db.tenant(job.tenant_id).fetchval(
            q("job_fail"),
            job.id, worker_id, delay, error[:4000],
        )
        return status or "lost"

    async def replay(self, tenant_id: str, job_id: int) -> bool:
        """Send a dead job of the tenant back to the queue with fresh attempts (or, when a job of its dedupe key
        is waiting already, finish it: that one does the work)."""
        return bool(
            await self.db.tenant(tenant_id).fetchval(
                q("job_replay"),
                job_id, self.name,
            )
        )

    async def pending(self, tenant_id: str) -> int:
        """The tenant's jobs not finished yet (pending or running)."""
        return await self.db.tenant(tenant_id).fetchval(
            q("jobs_unfinished"),
            self.name, tenant_id,
        )


async def queue_stats(conn: asyncpg.Connection | Tenant) -> dict[str, Any]:
    """Counts by queue and state, the age of the oldest due job, and the dead-lettered jobs."""
    counts = await conn.fetch(q("jobs_by_state"))
    oldest = await conn.fetchval(
        q("jobs_oldest_due")
    )
    dead = await conn.fetch(
        q("jobs_dead")
    )
    by_queue: dict[str, dict[str, int]] = {}
    for row in counts:
        by_queue.setdefault(row["queue"], {})[row["status"]] = row["n"]
    return {
        "queues": by_queue,
        "oldest_pending_seconds": float(oldest) if oldest is not None else 0.0,
        "dead": [dict(r) for r in dead],
    }


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"


class Worker:
    """Claims batches from a queue and runs the handler; effects and completion commit together."""

    def __init__(
        self, queue: Queue, handler: Handler, *, batch_size: int = 16, poll_interval: float = 0.5,
        worker_id: str | None = None, on_failure: FailureHook | None = None,
        after: Callable[[], Awaitable[None]] | None = None, idle_after_seconds: float = 30.0,
    ) -> None:
        """after: housekeeping run after every claimed batch, and every idle_after_seconds while idle."""
        self.queue = queue
        self.handler = handler
        self.on_failure = on_failure
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.worker_id = worker_id or worker_name()
        self.after = after
        self.idle_after_seconds = idle_after_seconds

    async def _run(self, jobs: Sequence[Job]) -> None:
        """Each tenant's jobs in one transaction of that tenant (a batch may mix tenants)."""
        by_tenant: dict[str, list[Job]] = {}
        for job in jobs:
            by_tenant.setdefault(job.tenant_id, []).append(job)
        requests = sorted({job.payload["request_id"] for job in jobs if job.payload.get("request_id")})
        token = REQUEST_ID.set(",".join(requests[:3]) + ("..." if len(requests) > 3 else "") or None)
        try:
            for tenant_id, group in by_tenant.items():
                async with self.queue.db.tenant(tenant_id).acquire() as conn:
                    await self.handler(conn, group)
                    await self.queue.complete(conn, group, self.worker_id)
        finally:
            REQUEST_ID.reset(token)

    async def run_once(self) -> int:
        """Claim and process one batch; return how many jobs were claimed."""
        jobs = await self.queue.claim(self.worker_id, self.batch_size)
        if not jobs:
            return 0
        try:
            await self._run(jobs)
        except LeaseLost as exc:
            log.warning("%s", exc)
        except Exception as exc:
            if len(jobs) == 1:  # nothing to isolate: running it again would repeat its effects
                await self._failed(jobs[0], exc)
            else:
                await self._isolate(jobs)
        await self._after()
        return len(jobs)

    async def _isolate(self, jobs: Sequence[Job]) -> None:
        """Find the poison: retry one by one, so one bad job does not fail its batch mates."""
        for job in jobs:
            try:
                await self._run([job])
            except LeaseLost as exc:
                log.warning("%s", exc)
            except Exception as exc:  # noqa: BLE001 - any handler error is recorded on the job
                await self._failed(job, exc)

    async def _failed(self, job: Job, exc: Exception) -> None:
        error = storable(f"{type(exc).__name__}: {exc}")
        status = await self.queue.fail(job, self.worker_id, error)
        log.warning("job %s failed (%s): %s", job.id, status, exc)
        if self.on_failure is not None and status != "lost":
            await self.on_failure(job, status, error)

    async def _after(self) -> None:
        """The housekeeping hook; its failure is logged and retried later, it never stops the worker."""
        if self.after is None:
            return
        try:
            await self.after()
        except Exception as exc:  # noqa: BLE001 - housekeeping must not take the worker down
            log.warning("worker %s: housekeeping failed: %s", self.worker_id, exc)

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, sleeping between empty polls (or until Queue.wake)."""
        idle_since = asyncio.get_running_loop().time()
        woken = asyncio.Event()
        _IDLE_WORKERS.setdefault(self.queue.name, set()).add(woken)
        try:
            await self._loop(stop, woken, idle_since)
        finally:
            _IDLE_WORKERS[self.queue.name].discard(woken)

    async def _loop(self, stop: asyncio.Event, woken: asyncio.Event, idle_since: float) -> None:
        while not stop.is_set():
            woken.clear()
            try:
                claimed = await self.run_once()
                now = asyncio.get_running_loop().time()
                if claimed:
                    idle_since = now
                elif self.after is not None and now - idle_since >= self.idle_after_seconds:
                    idle_since = now
                    await self._after()
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
                log.warning("worker %s: database unavailable (%s); retrying", self.worker_id, exc)
                claimed = 0
            except Exception:  # noqa: BLE001 - the worker outlives any error: its jobs come back after their lease
                log.exception("worker %s: a batch could not be run or recorded; polling again", self.worker_id)
                claimed = 0
            if not claimed:
                waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(woken.wait())]
                await asyncio.wait(waits, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
                for waiting in waits:
                    waiting.cancel()

    async def drain(self) -> int:
        """Process until nothing is due; return the jobs processed (for CLI --wait and benchmarks)."""
        total = 0
        while True:
            n = await self.run_once()
            if not n:
                return total
            total += n


def _traced(payload: dict[str, Any]) -> dict[str, Any]:
    """A job's payload with the request that enqueued it, when there is one."""
    request = REQUEST_ID.get()
    return {**payload, "request_id": request} if request and "request_id" not in payload else payload
