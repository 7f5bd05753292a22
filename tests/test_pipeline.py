"""Ingestion: stored rows, hash-based no-ops, partial re-embedding, versions, atomic batches."""
from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

import asyncpg
import numpy as np
import pytest

from sql.errors import InvalidInput
from app.services import Services
from ingest.loaders import LoadedDocument, load_bytes
from ingest.pipeline import IngestOptions
from tests.conftest import CountingEmbedder

PARAGRAPHS = [f"Paragraph {i} talks about topic {i} with enough words to matter. " * 12 for i in range(8)]
TEXT = "# Handbook\n\n" + "\n\n".join(f"## Part {i}\n\n{p}" for i, p in enumerate(PARAGRAPHS))


def handbook(text: str = TEXT) -> list[LoadedDocument]:
    return list(load_bytes(text.encode(), "handbook.md"))


async def _snapshot(services: Services) -> list[tuple]:
    """Every row's identity and system version (xmin): any write changes it."""
    rows = await services.db.tenant("default").fetch(
        """SELECT 'd' AS t, id, xmin::text AS x FROM rag.documents
           UNION ALL SELECT 'c', id, xmin::text FROM rag.chunks
           UNION ALL SELECT 'e', chunk_id, xmin::text FROM rag.chunk_embeddings ORDER BY 1, 2"""
    )
    return [tuple(r) for r in rows]


async def _assert_document_vectors_are_their_chunks_mean(owner: asyncpg.Pool) -> None:
    """A document's own vector is the normalised mean of its chunks' vectors (all of them, kept ones too)."""
    rows = await owner.fetch(
        """SELECT d.embedding AS own, (SELECT l2_normalize(avg(e.embedding)) FROM rag.chunks AS c
                                         JOIN rag.chunk_embeddings AS e ON e.chunk_id = c.id
                                        WHERE c.document_id = d.id) AS mean
             FROM rag.documents AS d""")
    assert rows
    for row in rows:
        assert row["own"] is not None
        assert np.allclose(row["own"].to_numpy(), row["mean"].to_numpy(), atol=1e-6)


async def test_ingest_stores_document_chunks_and_vectors(services: Services, embedder: CountingEmbedder, owner: asyncpg.Pool) -> None:
    result = await services.pipeline.ingest(handbook(), IngestOptions(source="docs", tenant_id="default"))
    assert (result.inserted, result.unchanged) == (1, 0)
    assert result.chunks_inserted == 8  # 8 parts (the title alone joins the first: no chunk is a bare heading)
    await services.worker().drain()
    doc = await owner.fetchrow("SELECT * FROM rag.documents")
    assert (doc["external_id"], doc["title"], doc["source"], doc["version"]) == ("handbook.md", "Handbook", "docs", 1)
    assert doc["provenance"]["file"] == "handbook.md" and "ingested_at" in doc["provenance"]
    assert doc["embedding"] is not None
    chunks = await owner.fetch("SELECT * FROM rag.chunks ORDER BY ordinal")
    for chunk in chunks:
        assert doc["content"][chunk["char_start"]:chunk["char_end"]] == chunk["content"]
    assert chunks[2]["section_path"] == "Handbook > Part 2" and chunks[0]["content"].startswith("Handbook\n\nPart 0")
    vectors = await owner.fetchval("SELECT count(*) FROM rag.chunk_embeddings WHERE model = $1", embedder.name)
    assert vectors == len(chunks)
    await _assert_document_vectors_are_their_chunks_mean(owner)


async def test_reingesting_unchanged_document_is_a_no_op(services: Services, embedder: CountingEmbedder) -> None:
    await services.pipeline.ingest(handbook(), IngestOptions(source="docs", tenant_id="default"))
    await services.worker().drain()
    calls, before = embedder.calls, await _snapshot(services)
    result = await services.pipeline.ingest(handbook(), IngestOptions(source="docs", tenant_id="default"))
    assert (result.inserted, result.updated, result.unchanged, result.chunks_inserted) == (0, 0, 1, 0)
    assert await services.worker().drain() == 0
    assert embedder.calls == calls, "no embedding call for an unchanged document"
    assert await _snapshot(services) == before, "no row changed"


async def test_editing_one_paragraph_reembeds_only_its_chunk(services: Services, embedder: CountingEmbedder, owner: asyncpg.Pool) -> None:
    await services.pipeline.ingest(handbook(), IngestOptions(source="docs", tenant_id="default"))
    await services.worker().drain()
    embedded_before = len(embedder.texts)
    edited = TEXT.replace(PARAGRAPHS[4], "A rewritten paragraph four about something else entirely.")
    result = await services.pipeline.ingest(handbook(edited), IngestOptions(source="docs", tenant_id="default"))
    assert (result.updated, result.chunks_inserted, result.chunks_deleted, result.chunks_kept) == (1, 1, 1, 7)
    await services.worker().drain()
    new_texts = embedder.texts[embedded_before:]
    assert len(new_texts) == 1 and "rewritten paragraph four" in new_texts[0]
    await _assert_document_vectors_are_their_chunks_mean(owner)
    doc = await owner.fetchrow("SELECT version, content FROM rag.documents")
    assert doc["version"] == 2
    for chunk in await owner.fetch("SELECT * FROM rag.chunks"):
        assert doc["content"][chunk["char_start"]:chunk["char_end"]] == chunk["content"]
    missing = await owner.fetchval(
        "SELECT count(*) FROM rag.chunks c LEFT JOIN rag.chunk_embeddings e ON e.chunk_id = c.id WHERE e.chunk_id IS NULL"
    )
    assert missing == 0


async def test_two_stores_in_one_transaction_write_each_chunk_once(services: Services, owner: asyncpg.Pool) -> None:
    # (the worker parses a batch of uploads, and the Odoo bridge a page of articles, in one transaction)
    pipeline = services.pipeline
    options = IngestOptions(tenant_id="default")
    async with services.db.tenant("default").acquire() as conn:
        for name in ("a", "b"):
            doc = LoadedDocument(name, name.upper(), f"# {name.upper()}\n\nText of {name}.\n\n## More\n\nMore of {name}.")
            await pipeline.store.store(conn, [pipeline.prepare(doc, options)], "default")
    counts = dict(await owner.fetch("SELECT d.external_id, count(*) FROM rag.chunks AS c "
                                    "JOIN rag.documents AS d ON d.id = c.document_id GROUP BY 1"))
    assert counts == {"a": 1, "b": 1}


async def test_a_failing_batch_writes_nothing(services: Services, monkeypatch: pytest.MonkeyPatch, owner: asyncpg.Pool) -> None:
    docs = [LoadedDocument(f"d{i}", f"T{i}", f"text number {i}") for i in range(5)]

    async def broken_copy(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    import asyncpg

    monkeypatch.setattr(asyncpg.connection.Connection, "copy_records_to_table", broken_copy)
    with pytest.raises(RuntimeError, match="disk full"):
        await services.pipeline.ingest(docs, IngestOptions(tenant_id="default"))
    monkeypatch.undo()
    assert await owner.fetchval("SELECT count(*) FROM rag.documents") == 0
    assert await owner.fetchval("SELECT count(*) FROM rag.jobs") == 0


async def test_bad_documents_are_refused_before_anything_is_written(services: Services, owner: asyncpg.Pool) -> None:
    with pytest.raises(InvalidInput, match="is empty"):
        await services.pipeline.ingest([LoadedDocument("x", "t", "   \n ")], IngestOptions(tenant_id="default"))
    with pytest.raises(InvalidInput, match="unknown language 'klingon'"):
        await services.pipeline.ingest([LoadedDocument("x", "t", "text")], IngestOptions(language="klingon", tenant_id="default"))
    with pytest.raises(InvalidInput, match="NUL"):
        await services.pipeline.ingest([LoadedDocument("x", "t", "a\x00b")], IngestOptions(tenant_id="default"))
    assert await owner.fetchval("SELECT count(*) FROM rag.documents") == 0


async def test_language_codes_resolve_to_configurations(services: Services, owner: asyncpg.Pool) -> None:
    await services.pipeline.ingest([LoadedDocument("f", "t", "Les factures sont payées")], IngestOptions(language="fr", tenant_id="default"))
    row = await owner.fetchrow("SELECT language::text AS l FROM rag.documents")
    assert row["l"] == "french"
    lexemes = await owner.fetchval("SELECT array_agg(lexeme ORDER BY lexeme) FROM rag.term_stats")
    assert "factur" in lexemes, "the French stemmer indexed the text"


async def test_a_first_load_builds_the_vector_index_once_after_it(services: Services, owner: asyncpg.Pool) -> None:
    """A model without vectors: its HNSW index is dropped for the load and built once its embeddings are
    written; the vector leg answers (exactly) meanwhile; later loads insert into the index as usual."""
    model = services.embedder.name

    async def index_state() -> tuple[int, bool]:
        indexes = await owner.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'chunk_embeddings_hnsw_' || substr(md5($1), 1, 12)", model)
        deferred = await owner.fetchval("SELECT index_deferred FROM rag.embedding_models WHERE name = $1", model)
        return indexes, deferred

    docs = [LoadedDocument(f"d{i}", f"Doc {i}", f"Invoices of customer number {i} are paid by transfer.") for i in range(30)]
    prepare = services.pipeline.prepare
    assert await index_state() == (1, False)
    async with services.pipeline.load():
        await services.pipeline.store_batch([prepare(d, IngestOptions(tenant_id="default")) for d in docs[:10]], "default")
        assert await index_state() == (0, True)
        await services.worker().drain()
        assert await index_state() == (0, True), "the load is still going: no index yet"
        hits = await services.retriever.search("customer number 3", mode="vector", k=3, tenant_id="default")
        assert len(hits) == 3
        await services.pipeline.store_batch([prepare(d, IngestOptions(tenant_id="default")) for d in docs[10:]], "default")
    assert await index_state() == (0, True), "the load is over but 20 documents wait for vectors"
    await services.worker().drain()
    assert await index_state() == (1, False), "the worker that embedded the last chunk built it"
    assert await owner.fetchval("SELECT count(*) FROM rag.chunk_embeddings") == 30
    await services.pipeline.ingest([LoadedDocument("late", "Late", "A later document.")], IngestOptions(tenant_id="default"))
    assert await index_state() == (1, False), "the model has vectors now: nothing is deferred"


async def test_a_loads_end_leaves_the_vector_index_to_the_workers(services: Services, owner: asyncpg.Pool) -> None:
    """Everything embedded before the load ends: the load returns without building the index; a worker's
    housekeeping (after its next batch, or when idle) builds it."""
    model = services.embedder.name
    deferred = "SELECT index_deferred FROM rag.embedding_models WHERE name = $1"
    async with services.pipeline.load():
        await services.pipeline.store_batch([services.pipeline.prepare(
            LoadedDocument("a", "A", "Some text to embed."), IngestOptions(tenant_id="default"))], "default")
        await services.worker().drain()
    assert await owner.fetchval(deferred, model), "the load released it, it did not build it"
    assert await services.retriever.search("text to embed", mode="vector", k=1, tenant_id="default"), "exact meanwhile"
    await services.housekeeping()
    assert not await owner.fetchval(deferred, model)
    assert await owner.fetchval("SELECT count(*) FROM pg_indexes WHERE indexname = $1",
                                "chunk_embeddings_hnsw_" + hashlib.md5(model.encode()).hexdigest()[:12]) == 1


async def _idle_worker_until(services: Services, done: Callable[[], Awaitable[object]]) -> None:
    """Run a worker that does its housekeeping whenever idle until done() is truthy (5 s at most)."""
    stop = asyncio.Event()
    task = asyncio.create_task(services.worker(idle_after_seconds=0.0).run(stop))
    for _ in range(50):
        if await done():
            break
        await asyncio.sleep(0.1)
    stop.set()
    await task


async def test_a_crashed_loads_deferred_index_is_built_when_its_lease_runs_out(
        services: Services, owner: asyncpg.Pool) -> None:
    model = services.embedder.name
    services.pipeline._loads += 1  # a load that never ends (its process died)
    await services.pipeline.store_batch([services.pipeline.prepare(
        LoadedDocument("a", "A", "Some text to embed."), IngestOptions(tenant_id="default"))], "default")
    await services.worker().drain()
    assert await owner.fetchval("SELECT index_deferred FROM rag.embedding_models WHERE name = $1", model)
    await owner.execute("UPDATE rag.embedding_models SET index_load_until = now() - interval '1 second'")
    await _idle_worker_until(services, lambda: owner.fetchval(
        "SELECT NOT index_deferred FROM rag.embedding_models WHERE name = $1", model))
    assert not await owner.fetchval("SELECT index_deferred FROM rag.embedding_models WHERE name = $1", model), \
        "an idle worker builds it"


async def _lexical_state(owner: asyncpg.Pool, tenant: str) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """A tenant's BM25 statistics and postings, by lexeme and by document and chunk ordinal (not by id)."""
    corpus = await owner.fetch(
        "SELECT language::text, chunk_count, total_len FROM rag.corpus_stats WHERE tenant_id = $1", tenant)
    terms = await owner.fetch(
        "SELECT lexeme, df FROM rag.term_stats WHERE tenant_id = $1 ORDER BY lexeme", tenant)
    postings = await owner.fetch(
        """SELECT t.lexeme, d.external_id, c.ordinal, p.tf, p.doc_len
             FROM rag.postings AS p JOIN rag.term_stats AS t ON t.tenant_id = p.tenant_id AND t.id = p.term_id
             JOIN rag.chunks AS c ON c.id = p.chunk_id JOIN rag.documents AS d ON d.id = c.document_id
            WHERE p.tenant_id = $1 ORDER BY 1, 2, 3""", tenant)
    # Every posting is under its term's id, the hash of migration 0016.
    assert len(postings) == await owner.fetchval("SELECT count(*) FROM rag.postings WHERE tenant_id = $1", tenant)
    assert await owner.fetchval("""SELECT count(*) FROM rag.term_stats
                                    WHERE tenant_id = $1 AND id <> rag.term_id_v1(tenant_id, language, lexeme)""",
                                tenant) == 0
    return [tuple(r) for r in corpus], [tuple(r) for r in terms], [tuple(r) for r in postings]


BUILT = ["chunk", "impact", "lexeme_trgm"]


async def _lexical_indexes(owner: asyncpg.Pool, tenant: str) -> list[str]:
    """The indexes of the tenant's postings and vocabulary partitions (migrations 0013, 0017) that a load
    may defer, by kind; the vocabulary's primary key, which every write needs, is always there."""
    postings, terms = await owner.fetchrow(
        "SELECT rag.postings_partition_v1($1), rag.term_stats_partition_v1($1)", tenant)
    rows = await owner.fetch(
        "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'rag' AND tablename = ANY($1)", [postings, terms])
    assert (terms, f"{terms}_pkey") in [tuple(r) for r in rows]
    return sorted(r["indexname"].removeprefix(r["tablename"] + "_") for r in rows if r["indexname"] != f"{terms}_pkey")


LOAD_DOCS = [LoadedDocument(f"n{i}", f"Note {i}", f"Credit note {i} for customer {i % 3}. " * (i + 3))
             for i in range(7)]


async def test_a_bulk_loads_later_batches_are_indexed_from_the_backlog_exactly(
        services: Services, owner: asyncpg.Pool) -> None:
    """From a load's second batch on, BM25 indexing goes through the lexical backlog; when the load is over
    the tenant's postings and statistics are those of indexing every chunk as it is inserted."""
    pipeline = services.pipeline
    pipeline.batch_size = 2
    deferred = []
    async with pipeline.load():
        async for batch in pipeline.prepared_batches(LOAD_DOCS, IngestOptions(tenant_id="bulk")):
            await pipeline.store_batch(batch, "bulk")
            deferred.append(await owner.fetchval("SELECT count(*) FROM rag.lexical_backlog WHERE tenant_id = 'bulk'"))
            assert await _lexical_indexes(owner, "bulk") == [], "a tenant without postings: built after the load"
            hits = await services.retriever.search("credit note 0", mode="lexical", tenant_id="bulk", k=1)
            assert hits and hits[0].title == "Note 0", "read without the index meanwhile"
            assert await services.retriever.search("crdit", mode="trigram", tenant_id="bulk", k=1), \
                "the trigram leg too"
    assert deferred[0] == 0 and sum(deferred) > 0, "the first batch indexes at once, later ones defer"
    assert await owner.fetchval("SELECT count(*) FROM rag.lexical_backlog") == 0, "the load's end drains it"
    assert await _lexical_indexes(owner, "bulk") == BUILT
    assert await owner.fetchval("SELECT count(*) FROM rag.lexical_index_deferrals") == 0

    for doc in LOAD_DOCS:  # the same documents, each indexed by its own insert
        await pipeline.store_batch([pipeline.prepare(doc, IngestOptions(tenant_id="default"))], "one_by_one")
    bulk, single = await _lexical_state(owner, "bulk"), await _lexical_state(owner, "one_by_one")
    assert bulk[2] and bulk == single
    hits = await services.retriever.search("credit note 6", mode="lexical", tenant_id="bulk", k=1)
    assert hits and hits[0].title == "Note 6", "the last batch is searchable"


async def test_during_a_load_the_drain_takes_full_passes_and_its_end_the_rest(
        services: Services, owner: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beside a load, the backlog is indexed a full pass at a time, once the load's batches have deferred
    that many chunks; what is left when the load ends is indexed then."""
    pipeline = services.pipeline
    pipeline.batch_size = 1
    monkeypatch.setattr(pipeline.backlog, "pass_size", 3)
    passes: list[tuple[bool, int]] = []  # (after the load's last batch, chunks taken)
    take = pipeline.backlog._pass
    stored_all = False

    async def recorded(tenant_id: str) -> int:
        taken = await take(tenant_id)
        passes.append((stored_all, taken))
        return taken

    monkeypatch.setattr(pipeline.backlog, "_pass", recorded)
    async with pipeline.load():
        async for batch in pipeline.prepared_batches(LOAD_DOCS, IngestOptions(tenant_id="default")):
            await pipeline.store_batch(batch, "default")
            await asyncio.sleep(0.05)  # room for the drain to run beside the load
        stored_all = True
    assert await owner.fetchval("SELECT count(*) FROM rag.chunks") == len(LOAD_DOCS), "one chunk each"
    during = [taken for after, taken in passes if not after]
    assert during and set(during) == {3}, f"full passes only during the load: {passes}"
    assert sum(taken for _, taken in passes) == len(LOAD_DOCS) - 1, "all but the first batch's chunk"
    assert await owner.fetchval("SELECT count(*) FROM rag.lexical_backlog") == 0


async def test_deleting_chunks_still_in_the_backlog_keeps_the_statistics_exact(
        services: Services, owner: asyncpg.Pool) -> None:
    pipeline = services.pipeline
    await pipeline.store_batch([pipeline.prepare(LOAD_DOCS[0], IngestOptions(tenant_id="default"))], "default")
    before = await _lexical_state(owner, "default")
    await pipeline.store_batch([pipeline.prepare(d, IngestOptions(tenant_id="default")) for d in LOAD_DOCS[1:3]], "default",
                               defer_lexical=True)
    assert await owner.fetchval("SELECT count(*) FROM rag.lexical_backlog") > 0
    assert await _lexical_state(owner, "default") == before, "nothing counted before it is indexed"
    await services.db.tenant("default").execute("DELETE FROM rag.documents WHERE external_id = ANY($1)", ["n1", "n2"])
    assert await owner.fetchval("SELECT count(*) FROM rag.lexical_backlog") == 0
    assert await pipeline.backlog.drain("default") == 0
    assert await _lexical_state(owner, "default") == before


async def test_a_backlog_left_by_a_dead_load_is_indexed_by_an_idle_worker(
        services: Services, owner: asyncpg.Pool) -> None:
    pipeline = services.pipeline
    await pipeline.store_batch([pipeline.prepare(LOAD_DOCS[4], IngestOptions(tenant_id="default"))], "default", defer_lexical=True)
    assert not await services.retriever.search("credit note 4", mode="lexical", k=1, tenant_id="default")
    await services.housekeeping()
    assert await owner.fetchval("SELECT count(*) FROM rag.lexical_backlog") > 0, "a young backlog is a live load's"
    await owner.execute("UPDATE rag.lexical_backlog SET created_at = now() - interval '1 hour'")
    await _idle_worker_until(services, lambda: owner.fetchval("SELECT count(*) = 0 FROM rag.lexical_backlog"))
    assert await owner.fetchval("SELECT count(*) FROM rag.lexical_backlog") == 0
    hits = await services.retriever.search("credit note 4", mode="lexical", k=1, tenant_id="default")
    assert hits and hits[0].title == "Note 4"


async def test_a_load_into_a_tenant_with_postings_keeps_its_indexes(services: Services, owner: asyncpg.Pool) -> None:
    pipeline = services.pipeline
    await pipeline.ingest(LOAD_DOCS[:1], IngestOptions(tenant_id="default"))
    assert await _lexical_indexes(owner, "default") == BUILT
    pipeline.batch_size = 2
    async with pipeline.load():
        async for batch in pipeline.prepared_batches(LOAD_DOCS[1:], IngestOptions(tenant_id="default")):
            await pipeline.store_batch(batch, "default")
            assert await _lexical_indexes(owner, "default") == BUILT
    assert await owner.fetchval("SELECT count(*) FROM rag.lexical_index_deferrals") == 0
    hits = await services.retriever.search("credit note 6", mode="lexical", k=1, tenant_id="default")
    assert hits and hits[0].title == "Note 6"


async def test_a_dead_loads_postings_indexes_are_built_by_an_idle_worker(
        services: Services, owner: asyncpg.Pool) -> None:
    """A load that died with its tenant's lexical indexes deferred: once its lease runs out, an idle
    worker builds them (and indexes its backlog)."""
    pipeline = services.pipeline
    load = pipeline.backlog.start()  # a load whose process dies: its end never runs
    await pipeline.backlog.defer_index(load, "default")
    await pipeline.store_batch([pipeline.prepare(LOAD_DOCS[2], IngestOptions(tenant_id="default"))], "default")
    load.finishing = True
    load.wake.set()
    await load.task  # type: ignore[misc]
    assert await _lexical_indexes(owner, "default") == []
    await services.housekeeping()
    assert await _lexical_indexes(owner, "default") == [], "a live load's lease"
    await owner.execute("UPDATE rag.lexical_index_deferrals SET load_until = now() - interval '1 second'")
    await _idle_worker_until(services, lambda: _lexical_indexes(owner, "default"))
    assert await _lexical_indexes(owner, "default") == BUILT
    assert await owner.fetchval("SELECT count(*) FROM rag.lexical_index_deferrals") == 0
    hits = await services.retriever.search("credit note 2", mode="lexical", k=1, tenant_id="default")
    assert hits and hits[0].title == "Note 2"


async def test_first_writes_of_new_tenants_at_once_each_get_their_partition(
        services: Services, owner: asyncpg.Pool) -> None:
    """Six new tenants' first documents written concurrently: each gets its postings partition, indexed,
    and finds its own document."""
    tenants = [f"new{i}" for i in range(6)]
    await asyncio.gather(*(services.pipeline.ingest([LOAD_DOCS[i]], IngestOptions(tenant_id=t))
                           for i, t in enumerate(tenants)))
    for i, tenant in enumerate(tenants):
        assert await _lexical_indexes(owner, tenant) == BUILT
        hits = await services.retriever.search(f"credit note {i}", mode="lexical", tenant_id=tenant, k=5)
        assert [h.title for h in hits] == [f"Note {i}"]
