"""Ingestion benchmark: load, chunk, store, embed (hash) end to end, against a raw binary COPY."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from app.db import Database
from app.services import Services
from app.settings import Settings
from eval.benchmarks.common import Timer, peak_rss_mb, scratch_database
from ingest.embedding import HashEmbedder
from ingest.loaders import LoadedDocument, iter_paths, load_path
from ingest.pipeline import IngestOptions
from ingest.store import CHUNK_COLUMNS, DocumentStore


def load_documents(paths: list[Path]) -> list[LoadedDocument]:
    return [doc for root, path in iter_paths(paths) for doc in load_path(root, path)]


async def bench_ingest(settings: Settings, paths: list[Path], batch_size: int = 256) -> dict[str, Any]:
    async with scratch_database(settings, "ipai_bench_ingest") as url:
        services = await Services.start(settings, embedder=HashEmbedder(384), database=Database(url))
        try:
            return await _run(services, paths, batch_size)
        finally:
            await services.close()


async def _run(services: Services, paths: list[Path], batch_size: int, workers_count: int = 2) -> dict[str, Any]:
    services.pipeline.batch_size = batch_size
    load, chunk, store, embed = Timer(), Timer(), Timer(), Timer()
    started = time.perf_counter()
    with load():
        docs = load_documents(paths)
    pipeline = services.pipeline
    options = IngestOptions(tenant_id="bench", language="english")
    prepared_all = []
    chunks = 0
    # Embedding workers run beside the store loop, as `serve` runs them: they claim each batch's
    # jobs as soon as it commits.
    stop = asyncio.Event()
    workers = [services.worker(batch_size=64) for _ in range(workers_count)]
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    # As `ipai-rag ingest` loads: the next batch is chunked in a thread while this one is stored, and a
    # new model's vector index is built after the load.
    async with pipeline.load():
        async for batch in pipeline.prepared_batches(docs, options):
            with store():
                result = await pipeline.store_batch(batch, "bench")
            chunks += result.chunks_inserted
            prepared_all.append(batch)
    with embed():  # what is left to embed once everything is stored
        stop.set()
        await asyncio.gather(*tasks)
        await asyncio.gather(*(w.drain() for w in workers))
    total = time.perf_counter() - started
    with chunk():  # chunking alone, measured apart: in the run above it overlaps the store step
        for doc in docs:
            pipeline.prepare(doc, options)
    embedded = await services.db.tenant("bench").fetchval("SELECT count(*) FROM rag.chunk_embeddings")

    # The same chunk rows, by a raw binary COPY into the same table (same triggers and indexes), under
    # another tenant whose document rows are created beforehand (not timed). COPY is refused on a table
    # with row-level security, so this floor runs as the owner, which RLS does not apply to.
    copy = Timer()
    for batch in prepared_all:
        async with services.owner() as conn, conn.transaction():
            ids = await conn.fetch(
                """INSERT INTO rag.documents (tenant_id, external_id, title, source, content, content_hash)
                   SELECT 'rawcopy', k.e, '', 'bench', 'x', '' FROM unnest($1::text[]) WITH ORDINALITY AS k(e, n)
                   ORDER BY k.n RETURNING id""",
                [d.external_id for d in batch],
            )
            rows = [row for record, doc in zip(ids, batch)
                    for row in DocumentStore._chunk_rows(record["id"], "rawcopy", doc, doc.chunks)]
            with copy():
                await conn.copy_records_to_table("chunks", schema_name="rag", columns=CHUNK_COLUMNS, records=rows)
    return {
        "documents": len(docs), "chunks": chunks, "embedded": embedded,
        "seconds": {"load": load.seconds, "chunk": chunk.seconds, "store": store.seconds, "embed": embed.seconds,
                    "total": total, "raw_copy": copy.seconds},
        "chunks_per_s": {"end_to_end": chunks / total, "store": chunks / store.seconds,
                         "raw_copy": chunks / copy.seconds, "chunking": chunks / chunk.seconds,
                         },
        "store_vs_raw_copy": copy.seconds / store.seconds,
        "peak_rss_mb": peak_rss_mb(),
    }


def format_ingest(r: dict[str, Any]) -> str:
    s, rate = r["seconds"], r["chunks_per_s"]
    return "\n".join([
        f"documents {r['documents']}, chunks {r['chunks']} (embedded {r['embedded']}, hash provider)",
        f"end-to-end (load+chunk+store+embed): {s['total']:.2f} s = {rate['end_to_end']:.0f} chunks/s",
        f"  load {s['load']:.2f} s | chunk {s['chunk']:.2f} s ({rate['chunking']:.0f}/s, measured apart: it overlaps the store) | store {s['store']:.2f} s "
        f"({rate['store']:.0f}/s) | embedding left after the last store {s['embed']:.2f} s (2 workers alongside)",
        f"raw binary COPY of the same chunk rows: {s['raw_copy']:.2f} s = {rate['raw_copy']:.0f} chunks/s",
        f"store step / raw COPY rate: {r['store_vs_raw_copy']:.2f}",
        f"peak RSS of this process: {r['peak_rss_mb']:.0f} MiB",
    ])
