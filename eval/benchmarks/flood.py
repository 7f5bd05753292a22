"""A flood of long queries beside normal searches: a normal search's latency while 16 callers send queries at
the length limit, against its latency on a quiet service, in the same run (the pool and the legs' work must
keep a normal search near its quiet time)."""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from app.services import Services
from app.settings import ChunkSettings, Settings
from eval.benchmarks.common import scratch_database
from eval.benchmarks.search import TENANT, _fill, corpus, variants
from ingest.embedding import Embedder
from retrieval.retriever import MAX_QUERY_TOKENS
from sql.db import Database
from ingest.tokens import count_tokens

NORMAL = ["how do I register a vendor bill payment", "reordering rule minimum quantity",
          "credit note on a posted invoice", "activate the developer mode", "multi-company inter-company rules",
          "lead scoring in CRM", "bank reconciliation model", "product variants and attributes"]


def long_query(words: list[str], rng: random.Random) -> str:
    """Words of the corpus up to just under the query length limit."""
    out: list[str] = []
    while True:
        out.extend(rng.choices(words, k=200))
        if count_tokens(" ".join(out)) > MAX_QUERY_TOKENS - 300:
            return " ".join(out)


async def _normal(services: Services, rounds: int) -> list[float]:
    out = []
    for i in range(rounds):
        started = time.perf_counter()
        await services.retriever.search(NORMAL[i % len(NORMAL)], k=10, tenant_id=TENANT)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def bench_flood(settings: Settings, embedder: Embedder, paths: list[Path], chunks: int = 20_000,
                      callers: int = 16, rounds: int = 60) -> dict[str, Any]:
    settings = replace(settings, chunks=ChunkSettings(size=100, overlap=0))
    rng = random.Random(7)
    docs = corpus(paths)
    words = sorted({w for doc in docs[:400] for w in doc.text.split() if w.isalpha() and len(w) > 3})
    floods = [long_query(words, rng) for _ in range(callers)]
    async with scratch_database(settings, "ipai_bench_flood") as url:
        services = await Services.start(settings, embedder=embedder, database=Database(url))
        try:
            have = await _fill(services, variants(docs), chunks)
            await _normal(services, 20)  # warm up
            quiet = await _normal(services, rounds)
            stop = asyncio.Event()
            long_ms: list[float] = []

            async def flood(text: str) -> None:
                while not stop.is_set():
                    started = time.perf_counter()
                    await services.retriever.search(text, k=10, tenant_id=TENANT)
                    long_ms.append((time.perf_counter() - started) * 1000)

            tasks = [asyncio.create_task(flood(text)) for text in floods]
            await asyncio.sleep(1.0)  # the flood under way
            loaded = await _normal(services, rounds)
            stop.set()
            await asyncio.gather(*tasks)
        finally:
            await services.close()
    quiet_p50, loaded_p50 = float(np.median(quiet)), float(np.median(loaded))
    return {"chunks": have, "callers": callers, "long_query_tokens": count_tokens(floods[0]),
            "quiet_p50_ms": quiet_p50, "flood_p50_ms": loaded_p50, "flood_p95_ms": float(np.percentile(loaded, 95)),
            "ratio": loaded_p50 / quiet_p50, "long_query_p50_ms": float(np.median(long_ms)) if long_ms else None,
            "long_queries": len(long_ms)}


def format_flood(r: dict[str, Any]) -> str:
    return (f"{r['chunks']:,} chunks; {r['callers']} callers each sending {r['long_query_tokens']:,}-token queries "
            f"({r['long_queries']} answered, p50 {r['long_query_p50_ms']:.0f} ms)\n"
            f"normal search p50: quiet {r['quiet_p50_ms']:.1f} ms, under the flood {r['flood_p50_ms']:.1f} ms "
            f"(p95 {r['flood_p95_ms']:.1f} ms) = {r['ratio']:.2f}x quiet (target < 3x)")
