"""The product side of `bench api`, run as a child process by file path, so that a checkout of another revision (on
PYTHONPATH) can take the current code's place: it loads a scratch database with the SciFact corpus, prints where it
is, then runs the in-process searches it is asked for.

    python -P eval/benchmarks/api_host.py NAME CHUNKS QUERIES_DIR CORPUS... (DATABASE_URL names the server)

It prints one line `bench-api-host {"url", "token", "chunks", "queries"}`, then answers each line `search SECONDS CONCURRENCY`
on its standard input with one such line of the searches' rate and latency; an empty line (or the end of the input)
drops the database. It uses only what every revision since the benchmark began has: Services.start, create_key,
HashEmbedder, the search benchmark's corpus loader and the retriever's search."""
from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from app.security.keys import create_key
from app.services import Services
from app.settings import get_settings
from eval.beir import load_beir
from eval.benchmarks.common import scratch_database
from eval.benchmarks.search import TENANT, _fill, corpus, variants
from ingest.embedding import HashEmbedder
from sql.db import Database


async def in_process(services: Services, queries: list[str], seconds: float, concurrency: int) -> dict[str, Any]:
    """The retriever's searches, `concurrency` at a time, for `seconds`: requests/s and p50/p99 (ms)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def runner(offset: int) -> None:
        i = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await services.retriever.search(queries[i % len(queries)], k=10, tenant_id=TENANT)
            latencies.append((time.perf_counter() - started) * 1000)
            i += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(runner(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"per_second": len(latencies) / elapsed, "p50": float(np.percentile(latencies, 50)),
            "p99": float(np.percentile(latencies, 99)), "requests": len(latencies)}


async def host(name: str, chunks: int, queries_dir: Path, paths: list[Path]) -> None:
    settings = get_settings()
    dataset = load_beir(queries_dir, "test")
    queries = [dataset.queries[q] for q in dataset.qrels]
    async with scratch_database(settings, name) as url:
        services = await Services.start(settings, embedder=HashEmbedder(384), database=Database(url))
        try:
            have = await _fill(services, variants(corpus(paths)), chunks)
            conn = await asyncpg.connect(url)
            try:  # the load's pages written out now, not during a measurement (needs a superuser; else skipped)
                await conn.execute("CHECKPOINT")
            except asyncpg.InsufficientPrivilegeError:
                pass
            finally:
                await conn.close()
            _, token = await create_key(services.db, TENANT, ["kb:read"], "bench")
            _say({"url": url, "token": token, "chunks": have, "queries": queries})
            loop = asyncio.get_running_loop()
            while command := (await loop.run_in_executor(None, sys.stdin.readline)).split():
                _, seconds, concurrency = command
                _say(await in_process(services, queries, float(seconds), int(concurrency)))
        finally:
            await services.close()


PREFIX = "bench-api-host "
"""Starts the lines meant for bench api (the code's own log lines may share the output)."""


def _say(message: dict[str, Any]) -> None:
    print(PREFIX + json.dumps(message), flush=True)


if __name__ == "__main__":
    asyncio.run(host(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), [Path(p) for p in sys.argv[4:]]))
