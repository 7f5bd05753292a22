"""The job queue: no job done twice by two workers, lease expiry, retries, dead letter, replay."""
from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

import asyncpg

from sql.queue import Job, Queue, Worker, queue_stats
from app.services import Services


async def _enqueue(queue: Queue, n: int, kind: str = "t") -> list[int]:
    async with queue.db.tenant("default").acquire() as conn:
        return [await queue.enqueue(conn, kind, {"n": i}, tenant_id="default") for i in range(n)]


async def test_two_workers_never_do_a_job_twice(services: Services, owner: asyncpg.Pool) -> None:
    queue = Queue(services.db, "test")
    await _enqueue(queue, 200)
    done: Counter[int] = Counter()

    async def handler(conn: asyncpg.Connection, jobs: Sequence[Job]) -> None:
        await asyncio.sleep(0.001)
        for job in jobs:
            done[job.payload["n"]] += 1

    workers = [Worker(queue, handler, batch_size=7, worker_id=f"w{i}") for i in range(2)]
    counts = await asyncio.gather(*(w.drain() for w in workers))
    assert sum(counts) == 200 and all(c > 0 for c in counts), counts
    assert set(done) == set(range(200)) and set(done.values()) == {1}
    stats = await queue_stats(owner)
    assert stats["queues"]["test"] == {"done": 200}


async def test_a_dead_workers_job_is_picked_up_after_its_lease(services: Services, owner: asyncpg.Pool) -> None:
    queue = Queue(services.db, "test", lease_seconds=0.5)
    [job_id] = await _enqueue(queue, 1)
    claimed = await queue.claim("dying-worker", 10)  # claims, then "dies" without completing
    assert [j.id for j in claimed] == [job_id]
    assert await queue.claim("other", 10) == []  # still leased
    await asyncio.sleep(0.7)
    seen: list[int] = []

    async def handler(conn: asyncpg.Connection, jobs: Sequence[Job]) -> None:
        seen.extend(j.id for j in jobs)

    assert await Worker(queue, handler, worker_id="other").run_once() == 1
    assert seen == [job_id]
    row = await owner.fetchrow("SELECT status, attempts, locked_by FROM rag.jobs WHERE id = $1", job_id)
    assert dict(row) == {"status": "done", "attempts": 2, "locked_by": None}
    # The dead worker's late completion is refused: the job is no longer leased to it.
    async with owner.acquire() as conn:
        try:
            await queue.complete(conn, claimed, "dying-worker")
            raise AssertionError("completion by a worker without the lease must fail")
        except Exception as exc:  # noqa: BLE001
            assert type(exc).__name__ == "LeaseLost"


async def test_poison_job_is_dead_lettered_while_others_complete_and_can_be_replayed(services: Services, owner: asyncpg.Pool) -> None:
    queue = Queue(services.db, "test", max_attempts=3, backoff_base=0.0)
    ids = await _enqueue(queue, 20)
    poison = ids[5]
    fail = True
    await owner.execute("CREATE TABLE public.effects (job bigint PRIMARY KEY); GRANT ALL ON public.effects TO ipai_app")

    async def handler(conn: asyncpg.Connection, jobs: Sequence[Job]) -> None:
        for job in jobs:
            await conn.execute("INSERT INTO public.effects VALUES ($1)", job.id)
            if job.id == poison and fail:
                raise ValueError("cannot process this one")

    worker = Worker(queue, handler, batch_size=8)
    for _ in range(6):
        await worker.drain()
    rows = {r["id"]: r for r in await owner.fetch("SELECT id, status, attempts, last_error FROM rag.jobs")}
    assert rows[poison]["status"] == "dead" and rows[poison]["attempts"] == 3
    assert "cannot process this one" in rows[poison]["last_error"]
    assert all(rows[i]["status"] == "done" for i in ids if i != poison)
    effects = {r["job"] for r in await owner.fetch("SELECT job FROM public.effects")}
    assert poison not in effects, "a failed job's effects roll back with it"
    assert effects == set(ids) - {poison}
    stats = await queue_stats(owner)
    assert [d["id"] for d in stats["dead"]] == [poison]

    fail = False
    assert not await queue.replay("other", poison), "another tenant's job is invisible"
    assert await queue.replay("default", poison)
    assert not await queue.replay("default", ids[0]), "only dead jobs can be replayed"
    await worker.drain()
    assert await owner.fetchval("SELECT status FROM rag.jobs WHERE id = $1", poison) == "done"


async def test_failed_job_waits_for_its_backoff(services: Services, owner: asyncpg.Pool) -> None:
    queue = Queue(services.db, "test", backoff_base=30.0)
    [job_id] = await _enqueue(queue, 1)

    async def handler(conn: asyncpg.Connection, jobs: Sequence[Job]) -> None:
        raise RuntimeError("transient")

    worker = Worker(queue, handler)
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0, "the retry is scheduled in the future"
    row = await owner.fetchrow(
        "SELECT status, run_at > now() + interval '10 seconds' AS later FROM rag.jobs WHERE id = $1", job_id
    )
    assert row["status"] == "pending" and row["later"]


async def test_dedupe_key_keeps_one_waiting_job(services: Services, owner: asyncpg.Pool) -> None:
    queue = Queue(services.db, "test")
    async with owner.acquire() as conn:
        first = await queue.enqueue(conn, "t", {}, dedupe_key="doc:1", tenant_id="default")
        second = await queue.enqueue(conn, "t", {}, dedupe_key="doc:1", tenant_id="default")
    assert first is not None and second is None


async def test_a_failure_quoting_a_nul_is_recorded_and_the_worker_goes_on(services: Services, owner: asyncpg.Pool) -> None:
    """An error message may quote input holding a NUL, which PostgreSQL cannot store; and whatever goes wrong
    while recording a failure, the running worker keeps taking jobs."""
    queue = Queue(services.db, "test", max_attempts=1)
    [bad] = await _enqueue(queue, 1, kind="bad")
    done: list[int] = []

    async def handler(conn: asyncpg.Connection, jobs: Sequence[Job]) -> None:
        for job in jobs:
            if job.kind == "bad":
                raise ValueError("cannot read 'a\x00b'")
            done.append(job.id)

    async def on_failure(job: Job, status: str, error: str) -> None:
        raise RuntimeError("the failure hook fails too")

    stop = asyncio.Event()
    worker = Worker(queue, handler, poll_interval=0.05, on_failure=on_failure)
    running = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(100):
            if await owner.fetchval("SELECT status FROM rag.jobs WHERE id = $1", bad) == "dead":
                break
            await asyncio.sleep(0.05)
        [good] = await _enqueue(queue, 1)
        for _ in range(100):
            if done:
                break
            await asyncio.sleep(0.05)
        assert done == [good], "the worker kept running after the failed hook"
        assert not running.done()
    finally:
        stop.set()
        await running
    row = await owner.fetchrow("SELECT status, last_error FROM rag.jobs WHERE id = $1", bad)
    assert row["status"] == "dead" and row["last_error"] == "ValueError: cannot read 'a\ufffdb'"


async def test_a_deduplicated_job_runs_after_the_change_that_enqueued_it(services: Services, owner: asyncpg.Pool) -> None:
    """A change enqueues its job, which joins one already waiting; a worker polling before the change commits
    must not run that job on the state before it (the change would be left undone: its chunks never embedded)."""
    queue = Queue(services.db, "test")
    await owner.execute("CREATE TABLE public.effects (job bigint PRIMARY KEY); GRANT ALL ON public.effects TO ipai_app")
    await owner.execute("CREATE TABLE public.versions (v int); GRANT ALL ON public.versions TO ipai_app")
    seen: list[list[int]] = []

    async def handler(conn: asyncpg.Connection, jobs: Sequence[Job]) -> None:
        seen.append([r["v"] for r in await conn.fetch("SELECT v FROM public.versions ORDER BY v")])

    async with services.db.tenant("default").acquire() as conn:
        first = await queue.enqueue(conn, "t", {"v": 1}, tenant_id="default", dedupe_key="doc:1")
    worker = Worker(queue, handler)
    async with services.db.tenant("default").acquire() as conn:  # the change, still open
        await conn.execute("INSERT INTO public.versions VALUES (2)")
        assert await queue.enqueue(conn, "t", {"v": 2}, tenant_id="default", dedupe_key="doc:1") is None
        assert await worker.run_once() == 0, "the waiting job is held by the open change"
    assert await worker.drain() == 1
    assert seen == [[2]]
    row = await owner.fetchrow("SELECT id, payload, status FROM rag.jobs")
    assert row["id"] == first and row["payload"]["v"] == 2 and row["status"] == "done"
    async with services.db.tenant("default").acquire() as conn:
        assert await queue.enqueue_many(conn, "t", [{"v": 3}, {"v": 4}, {"v": 5}], ["doc:1", "doc:2", "doc:1"],
                                        tenant_id="default") == 2
    assert sorted((r["dedupe_key"], r["payload"]["v"]) for r in await owner.fetch(
        "SELECT dedupe_key, payload FROM rag.jobs WHERE status = 'pending'")) == [("doc:1", 5), ("doc:2", 4)]
    # a waiting job in an earlier failure's backoff is due again once a change enqueues it anew
    await owner.execute("UPDATE rag.jobs SET run_at = now() + interval '10 minutes' WHERE status = 'pending'")
    async with services.db.tenant("default").acquire() as conn:
        assert await queue.enqueue_many(conn, "t", [{"v": 6}], ["doc:2"], tenant_id="default") == 0
        assert await queue.enqueue(conn, "t", {"v": 7}, tenant_id="default", dedupe_key="doc:1") is None
    assert await owner.fetchval("SELECT count(*) FROM rag.jobs WHERE status = 'pending' AND run_at <= now()") == 2


async def test_a_job_failing_while_another_of_its_key_waits_leaves_the_retry_to_it(services: Services,
                                                                                  owner: asyncpg.Pool) -> None:
    """Only one job of a dedupe key may wait: a failure while a newer one was enqueued ends the failed one
    (the waiting one does the work again, on the newer state) instead of failing to record it."""
    queue = Queue(services.db, "test")

    async def enqueue() -> int | None:
        async with services.db.tenant("default").acquire() as conn:
            return await queue.enqueue(conn, "t", {}, tenant_id="default", dedupe_key="doc:1")

    first = await enqueue()
    runs: list[int] = []

    async def handler(conn: asyncpg.Connection, jobs: Sequence[Job]) -> None:
        runs.extend(job.id for job in jobs)
        if len(runs) == 1:
            assert await enqueue() is not None, "the first one runs: a second one waits"
            raise RuntimeError("transient")

    worker = Worker(queue, handler)
    assert await worker.drain() == 2
    rows = {r["id"]: r for r in await owner.fetch("SELECT id, status, last_error FROM rag.jobs")}
    assert rows[first]["status"] == "done" and "transient" in rows[first]["last_error"]
    [second] = set(rows) - {first}
    assert runs == [first, second] and rows[second]["status"] == "done"

    await owner.execute("UPDATE rag.jobs SET status = 'dead' WHERE id = $1", first)
    waiting = await enqueue()
    assert await queue.replay("default", first), "replayed: the job waiting for its key does the work"
    assert await owner.fetchval("SELECT status FROM rag.jobs WHERE id = $1", first) == "done"
    assert await owner.fetchval("SELECT status FROM rag.jobs WHERE id = $1", waiting) == "pending"
