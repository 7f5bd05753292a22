"""Search latency at 10k..100k chunks: each mode vs the Supabase reference hybrid_search, same table."""
from __future__ import annotations

import itertools
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from sql.db import Database
from app.services import Services
from app.settings import ChunkSettings, Settings
from eval.beir import load_beir
from eval.benchmarks.common import peak_rss_mb, scratch_database
from ingest.embedding import Embedder
from ingest.loaders import LoadedDocument, iter_paths, load_path
from ingest.pipeline import IngestOptions
from sql.queries import q

REFERENCE_SQL = Path(__file__).with_name("reference.sql")
TENANT = "bench"


def corpus(paths: list[Path]) -> list[LoadedDocument]:
    return [doc for root, path in iter_paths(paths) for doc in load_path(root, path)]


def variants(docs: list[LoadedDocument]):  # type: ignore[no-untyped-def]
    """The corpus again and again, each copy a distinct document (its text marked with the copy number)."""
    for copy in itertools.count():
        for doc in docs:
            text = doc.text if copy == 0 else f"{doc.text}\n\n(copy {copy})"
            yield LoadedDocument(f"{doc.external_id}#{copy}", doc.title, text, doc.sections if copy == 0 else [])


def percentiles(ms: list[float]) -> dict[str, float]:
    return {p: float(np.percentile(ms, int(p[1:]))) for p in ("p50", "p95", "p99")}


async def _fill(services: Services, stream, target: int) -> int:  # type: ignore[no-untyped-def]
    """Ingest from the stream until the tenant holds `target` chunks; embed with the index built after."""
    have = await services.db.tenant(TENANT).fetchval(q("bench_chunk_count"), TENANT)
    options = IngestOptions(tenant_id=TENANT, language="english")
    batch: list[LoadedDocument] = []
    while have < target:
        batch.append(next(stream))
        if len(batch) == 200:
            have += (await services.pipeline.ingest(batch, options)).chunks_inserted
            batch = []
    if batch:
        have += (await services.pipeline.ingest(batch, options)).chunks_inserted
    # Bulk load: drop the model's HNSW index, embed, build it again (pgvector's advice for bulk loads).
    async with services.owner() as conn:
        index = await conn.fetchval(
            q("bench_hnsw_indexes"))
        if index:
            await conn.execute(f'DROP INDEX rag."{index}"')
    await services.worker(batch_size=128).drain()
    async with services.owner() as conn:
        await conn.execute("SET maintenance_work_mem = '1GB'")
        await services.indexer.register_model(conn)
        # What autovacuum does within a minute of a bulk load: statistics, and the visibility map that
        # lets the postings be read by index-only scans (without it every posting visits the heap). Then a
        # checkpoint, which writes the load's pages out now rather than during a later measurement.
        await conn.execute(q("bench_vacuum"))
        await conn.execute(q("bench_checkpoint"))
    return have


async def _time_queries(services: Services, queries: list[str], vectors: np.ndarray, mode: str) -> list[float]:
    retriever = services.retriever
    # The vector-only baseline searches HNSW at ef_search 100; the other modes use the tuned defaults.
    params = replace(retriever.params, ef_search=100) if mode == "vector" else None
    out = []
    # The reference runs as the owner, without row-level security, as the Supabase documentation's
    # example is usually measured: the comparison does not charge it for the policies.
    connection = services.owner() if mode == "reference" else services.db.tenant(TENANT).acquire()
    async with connection as conn:
        for text, vector in zip(queries, vectors):
            started = time.perf_counter()
            if mode == "reference":
                await conn.fetch(q("bench_reference_search"), text, vector)
            else:
                await retriever.search(text, k=10, mode=mode, tenant_id=TENANT, query_embedding=vector,
                                       params=params, snippets=False, conn=conn)
            out.append((time.perf_counter() - started) * 1000)
    return out


async def bench_search(settings: Settings, embedder: Embedder, paths: list[Path], queries_path: Path,
                       sizes: list[int], reference_queries: int = 60) -> dict[str, Any]:
    """The embedder should be the real one (MiniLM): HNSW's work depends on how the vectors are spread."""
    settings = replace(settings, chunks=ChunkSettings(size=100, overlap=0))  # ~75-word chunks
    dataset = load_beir(queries_path, "test")
    queries = [dataset.queries[q] for q in dataset.qrels]
    vectors = await embedder.embed(queries)
    results: dict[str, Any] = {"queries": len(queries), "embedding_model": embedder.name, "sizes": {}}
    async with scratch_database(settings, "ipai_bench_search") as url:
        services = await Services.start(settings, embedder=embedder, database=Database(url))
        try:
            stream = variants(corpus(paths))
            for size in sizes:
                started = time.perf_counter()
                have = await _fill(services, stream, size)
                load_s = time.perf_counter() - started
                row: dict[str, Any] = {"chunks": have, "load_seconds": load_s}
                for mode in ("vector", "lexical", "trigram", "hybrid"):
                    await _time_queries(services, queries[:20], vectors[:20], mode)  # warm up
                    row[mode] = percentiles(await _time_queries(services, queries, vectors, mode))
                async with services.owner() as conn:
                    await conn.execute(REFERENCE_SQL.read_text())
                n = min(reference_queries, len(queries))
                row["reference"] = percentiles(await _time_queries(services, queries[:n], vectors[:n], "reference"))
                row["reference"]["queries"] = n
                results["sizes"][str(size)] = row
        finally:
            await services.close()
    results["peak_rss_mb"] = peak_rss_mb()
    return results


def format_search(r: dict[str, Any]) -> str:
    lines = [f"{r['queries']} queries (SciFact test), k=10, {r['embedding_model']} vectors; latency in ms",
             "| chunks | mode | p50 | p95 | p99 |", "|---|---|---|---|---|"]
    for row in r["sizes"].values():
        for mode in ("vector", "lexical", "trigram", "hybrid", "reference"):
            p = row[mode]
            name = (f"Supabase reference ({p['queries']} queries)" if mode == "reference" else
                    "vector (ef_search 100)" if mode == "vector" else mode)
            lines.append(f"| {row['chunks']:,} | {name} | {p['p50']:.2f} | {p['p95']:.2f} | {p['p99']:.2f} |")
    for row in r["sizes"].values():
        h, v, ref = row["hybrid"], row["vector"], row["reference"]
        lines.append(
            f"at {row['chunks']:,} chunks: hybrid p50 / vector p50 = {h['p50'] / v['p50']:.1f}x (target <= 10x); "
            f"hybrid p99 / hybrid p50 = {h['p99'] / h['p50']:.1f}x (target <= 4x); "
            f"reference p50 / hybrid p50 = {ref['p50'] / h['p50']:.1f}x (target >= 20x)")
    return "\n".join(lines)
