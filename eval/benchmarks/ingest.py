"""Ingestion benchmark: load, chunk, store, embed (hash) end to end, against a raw binary COPY."""
from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sql.db import Database
from app.services import Services
from app.settings import Settings
from eval.benchmarks.common import Timer, machine_busy_seconds, peak_rss_mb, scratch_database
from ingest.embedding import HashEmbedder
from ingest.lexical import defer_lexical_indexing
from ingest.loaders import LoadedDocument, iter_paths, load_files
from ingest.pipeline import LOADER_PROCESSES
from ingest.pipeline import IngestOptions, IngestPipeline
from ingest.store import CHUNK_COLUMNS, DocumentStore, PreparedDocument, embedding_text, heading_for
from sql.queries import q


def iter_documents(paths: list[Path]) -> Iterator[LoadedDocument]:
    """The documents of every file under the paths, as `ipai-rag ingest` reads them (parsed in
    LOADER_PROCESSES worker processes)."""
    for _, documents, refused in load_files(list(iter_paths(paths)), LOADER_PROCESSES):
        if refused is not None:
            raise refused
        yield from documents


INDEXES = {  # what --without leaves out
    "lexical": "BM25 indexing of the load's later batches (their chunks stay in the lexical backlog)",
    "vector": "the build of the model's vector index after the load (the index is never built)",
    "embedding": "the embedding workers (no chunk gets a vector)",
}
# The figure the issue names ends when every chunk is stored, BM25-indexed and embedded; the vector index,
# built by a worker after that (migration 0014), is timed too and printed as a rate of its own.


async def _nothing(*args: Any) -> int:
    return 0


async def bench_ingest(settings: Settings, paths: list[Path], batch_size: int = 256,
                       without: Collection[str] = ()) -> dict[str, Any]:
    """without: a diagnostic that leaves out the named index maintenance (the load's BM25 backlog drains,
    the vector index build after it) to show what each costs; the figures then stand for no product."""
    async with scratch_database(settings, "ipai_bench_ingest") as url:
        services = await Services.start(settings, embedder=HashEmbedder(384), database=Database(url))
        if "lexical" in without:
            services.pipeline.backlog.drain = _nothing  # type: ignore[method-assign]
        if "vector" in without:
            services.indexer.after_batch = _nothing  # type: ignore[method-assign]
        try:
            workers = 0 if "embedding" in without else 2
            return {**await _run(services, paths, batch_size, workers), "without": sorted(without)}
        finally:
            await services.close()


async def _run(services: Services, paths: list[Path], batch_size: int, workers_count: int = 2) -> dict[str, Any]:
    services.pipeline.batch_size = batch_size
    load, chunk, store, embed = Timer(), Timer(), Timer(), Timer()
    started = time.perf_counter()
    docs: list[LoadedDocument] = []

    def loaded() -> Iterator[LoadedDocument]:  # read in the chunking thread, kept for the measurements apart
        for doc in iter_documents(paths):
            docs.append(doc)
            yield doc

    pipeline = services.pipeline
    options = IngestOptions(tenant_id="bench", language="english")
    prepared_all = []
    chunks = 0
    # Two embedding workers, claiming 64 documents at a time, run beside the store loop in this process, as
    # `serve` runs its one (which claims 16): they claim each batch's jobs as soon as it commits. The last
    # batch's end is when every chunk has its vector.
    embedded_at = started
    handle = services.indexer.handle

    async def timed_handle(conn: Any, jobs: Any) -> None:
        nonlocal embedded_at
        await handle(conn, jobs)
        embedded_at = time.perf_counter()

    services.indexer.handle = timed_handle  # type: ignore[method-assign]
    stop = asyncio.Event()
    workers = [services.worker(batch_size=64) for _ in range(workers_count)]
    busy_before = machine_busy_seconds()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    # As `ipai-rag ingest` loads: the next batch is chunked in a thread while this one is stored, BM25
    # indexing of later batches runs beside the store, and a fresh tenant's postings and trigram indexes
    # are built after the load; a new model's vector index is built by the worker that embeds the last chunk.
    async with pipeline.load():
        async for batch in pipeline.prepared_batches(loaded(), options):
            with store():
                result = await pipeline.store_batch(batch, "bench")
            chunks += result.chunks_inserted
            prepared_all.append(batch)
        stored = time.perf_counter()
    loaded_at = time.perf_counter()
    finish = loaded_at - stored  # the load's end: the rest of the lexical backlog, the lexical indexes
    with embed():  # what is left to embed once everything is stored, and the vector index build
        stop.set()
        await asyncio.gather(*tasks)
        await asyncio.gather(*(w.drain() for w in workers))
        await services.housekeeping()  # builds the vector index now if no worker batch came after the load
    index_ready = time.perf_counter() - started
    total = max(loaded_at, embedded_at) - started
    busy_after = machine_busy_seconds()
    busy = None if busy_before is None or busy_after is None else busy_after - busy_before
    vector_index = await services.db.pool.fetchval(
        q("bench_model_indexed"), services.embedder.name)
    peak_rss = peak_rss_mb()  # before the measurements apart below add their own
    with load():  # loading alone, measured apart: in the run it overlaps the store
        list(iter_documents(paths))
    with chunk():  # chunking alone, measured apart: in the run above it overlaps the store step
        for doc in docs:
            pipeline.prepare(doc, options)
    embedded = await services.db.tenant("bench").fetchval(q("bench_embedded_count"))
    hashing = Timer()  # the hash embedder alone, from a cold word cache (it takes 64 texts per pass itself)
    texts = [embedding_text(heading_for(doc.title, c.section_path), c.content)
             for batch in prepared_all for doc in batch for c in doc.chunks]
    with hashing():
        HashEmbedder(services.embedder.dimensions).embed_sync(texts)

    # The store step alone: the same batches under another tenant, one transaction each, deferring BM25
    # from the second batch on as the load does, with no drain or embedding worker beside it.
    store_alone = Timer()
    for i, batch in enumerate(prepared_all):
        with store_alone():
            await pipeline.store_batch(batch, "storealone", defer_lexical=i > 0)

    # The same chunk rows, by a raw binary COPY into the same table (same triggers and indexes), under
    # another tenant whose document rows are created beforehand (not timed). COPY is refused on a table
    # with row-level security, so this floor runs as the owner, which RLS does not apply to. Like the
    # load, it defers BM25 indexing from the second batch on; its backlog is drained afterwards, timed apart.
    copy, copy_drain = Timer(), Timer()
    for i, batch in enumerate(prepared_all):
        async with services.owner() as conn, conn.transaction():
            if i:
                await defer_lexical_indexing(conn)
            ids = await conn.fetch(
                q("bench_documents_bare"),
                [d.external_id for d in batch],
            )
            rows = [row for record, doc in zip(ids, batch)
                    for row in DocumentStore._chunk_rows(record["id"], "rawcopy", doc, doc.chunks)]
            with copy():
                await conn.copy_records_to_table("chunks", schema_name="rag", columns=CHUNK_COLUMNS, records=rows)
    with copy_drain():
        await pipeline.backlog.drain("rawcopy")
    writes = await _writes_beside_a_load(pipeline, prepared_all)
    writes["replace_loaded"] = await _replacements(pipeline, docs, options)
    return {
        "documents": len(docs), "chunks": chunks, "embedded": embedded,
        "seconds": {"load": load.seconds, "chunk": chunk.seconds, "store": store.seconds, "finish": finish,
                    "embed": embed.seconds, "total": total, "vector_index_ready": index_ready,
                    "raw_copy": copy.seconds,
                    "raw_copy_drain": copy_drain.seconds, "store_alone": store_alone.seconds,
                    "hash_embedding": hashing.seconds},
        "chunks_per_s": {"end_to_end": chunks / total, "with_vector_index": chunks / index_ready,
                         "store": chunks / store.seconds,
                         "store_alone": chunks / store_alone.seconds,
                         "raw_copy": chunks / copy.seconds, "chunking": chunks / chunk.seconds,
                         "hash_embedding": len(texts) / hashing.seconds},
        "store_vs_raw_copy": copy.seconds / store_alone.seconds, "vector_index_built": vector_index,
        "peak_rss_mb": peak_rss, "machine_busy_cpu_s": busy, "cores": os.cpu_count(),
        "single_writes_ms": writes,
    }


async def _writes_beside_a_load(pipeline: IngestPipeline, batches: list[list[PreparedDocument]],
                                 every: float = 0.05) -> dict[str, dict[str, float]]:
    """Latency of a one-document ingest (as the API makes it), first with nothing else running, then
    into the same tenant while the same batches are bulk-loaded again (its BM25 indexing waits for the
    statistics lock that the load's drain holds for a pass)."""
    options = IngestOptions(tenant_id="writer", language="english")
    text = "Credit notes\n\nA credit note cancels all or part of a posted customer invoice."

    async def write(name: str) -> float:
        doc = LoadedDocument(external_id=name, title="Credit notes", text=text)
        started = time.perf_counter()
        await pipeline.ingest([doc], options)
        return (time.perf_counter() - started) * 1000

    idle = [await write(f"idle-{i}") for i in range(20)]
    beside: list[float] = []
    loading = asyncio.Event()
    done = asyncio.Event()

    async def writer() -> None:
        await loading.wait()
        while not done.is_set():
            beside.append(await write(f"beside-{len(beside)}"))
            await asyncio.sleep(every)

    task = asyncio.create_task(writer())  # made outside the load: its writes are not part of it
    try:
        async with pipeline.load():
            for batch in batches:
                await pipeline.store_batch(batch, options.tenant_id)
                loading.set()
    finally:
        done.set()
        await task

    return {"idle": _summary(idle), "beside_load": _summary(beside)}


async def _replacements(pipeline: IngestPipeline, docs: list[LoadedDocument], options: IngestOptions,
                        count: int = 20) -> dict[str, float]:
    """Latency of replacing the text of one loaded document (as PUT makes it: its old chunks and their
    postings go, new ones come) in the tenant the run loaded, for documents spread over the load."""
    ms = []
    for doc in docs[::max(1, len(docs) // count)][:count]:
        edited = dataclasses.replace(doc, text=f"{doc.title}\n\nA credit note cancels a posted invoice.", sections=[])
        started = time.perf_counter()
        await pipeline.ingest([edited], options)
        ms.append((time.perf_counter() - started) * 1000)
    return _summary(ms)


def _summary(ms: list[float]) -> dict[str, float]:
    return {"writes": len(ms), "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "max": max(ms)}


def format_ingest(r: dict[str, Any]) -> str:
    s, rate = r["seconds"], r["chunks_per_s"]
    left_out = [f"DIAGNOSTIC, not a figure of the product; left out: "
                f"{'; '.join(INDEXES[name] for name in r['without'])}"] if r["without"] else []
    return "\n".join([*left_out,
        f"documents {r['documents']}, chunks {r['chunks']} (embedded {r['embedded']}, hash provider)",
        f"end-to-end (load+chunk+store+embed): {s['total']:.2f} s = {rate['end_to_end']:.0f} chunks/s "
        + ("(with the above left out)" if r["without"] else
           "(every chunk stored, BM25-indexed and embedded; searchable in all three legs)"),
        "  and the vector index, built by a worker after that: "
        + (f"ready at {s['vector_index_ready']:.2f} s = {rate['with_vector_index']:.0f} chunks/s including it "
           f"(until then the vector leg scans exactly)" if r["vector_index_built"] else "not built"),
        f"  load {s['load']:.2f} s (measured apart: in the run it overlaps the store, file by file)"
        f" | chunk {s['chunk']:.2f} s ({rate['chunking']:.0f}/s, measured apart: it overlaps the store) | store {s['store']:.2f} s "
        f"({rate['store']:.0f}/s, BM25 indexing of later batches runs beside it) | the load's end after the last "
        f"store {s['finish']:.2f} s (rest of the lexical backlog, postings and trigram indexes) | embedding and "
        f"vector index left after that {s['embed']:.2f} s (2 workers alongside) | hash embedding "
        f"{s['hash_embedding']:.2f} s "
        f"({rate['hash_embedding']:.0f}/s, measured apart: the workers run it beside the store)",
        f"raw binary COPY of the same chunk rows (deferring BM25 alike): {s['raw_copy']:.2f} s = "
        f"{rate['raw_copy']:.0f} chunks/s; its backlog drained after it, alone: {s['raw_copy_drain']:.2f} s",
        f"store step alone (deferring BM25 alike): {s['store_alone']:.2f} s = {rate['store_alone']:.0f} chunks/s; "
        f"store step alone / raw COPY rate: {r['store_vs_raw_copy']:.2f}",
        f"peak RSS of this process by the end of the end-to-end run: {r['peak_rss_mb']:.0f} MiB",
        *([f"the machine was busy {r['machine_busy_cpu_s']:.2f} CPU-s of the {r['cores']} cores' "
           f"{r['cores'] * s['vector_index_ready']:.2f} until the vector index was ready (every process, the "
           "database's included; /proc/stat)"] if r["machine_busy_cpu_s"] is not None else []),
        "a one-document ingest into the loading tenant (as the API makes it): " + " | ".join(
            f"{label} p50 {w['p50']:.0f} ms, p95 {w['p95']:.0f} ms, max {w['max']:.0f} ms ({w['writes']} writes)"
            for label, w in (("idle:", r["single_writes_ms"]["idle"]),
                             ("during a bulk load of it:", r["single_writes_ms"]["beside_load"]))),
        "replacing the text of one document of the loaded tenant (as PUT makes it): "
        + "p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max:.0f} ms ({writes} writes)".format(
            **r["single_writes_ms"]["replace_loaded"]),
    ])
