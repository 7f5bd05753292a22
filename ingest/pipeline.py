"""Load -> chunk -> store -> (queue) -> embed: the ingestion pipeline and the embedding job handler."""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import unicodedata
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import numpy as np
from pgvector import Vector

from sql.db import Db
from sql.errors import InvalidInput
from sql.values import check_json, check_text
from sql.queue import Job, Queue
from ingest.chunking import Chunker, text_hash
from ingest.embedding import Embedder
from ingest.lexical import BacklogLoad, LexicalBacklog, defer_lexical_indexing
from ingest.loaders import LoadedDocument
from ingest.store import EMBED_QUEUE, DocumentStore, PreparedDocument, StoreResult, embedding_text, now_iso
from sql.queries import q

# ISO 639-1 codes accepted besides PostgreSQL's own text search configuration names.
ISO_LANGUAGES = {
    "ar": "arabic", "ca": "catalan", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi",
    "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian", "lt": "lithuanian",
    "ne": "nepali", "nl": "dutch", "no": "norwegian", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}


class Languages:
    """The text search configurations the server has; resolves 'en' or 'english' to 'english'."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)

    @classmethod
    async def load(cls, conn: asyncpg.Connection | asyncpg.Pool) -> Languages:
        rows = await conn.fetch(q("text_search_configurations"))
        return cls(r["cfgname"] for r in rows)

    def resolve(self, language: str | None, default: str = "english") -> str:
        name = (default if language is None else language).strip().lower()
        name = ISO_LANGUAGES.get(name, name)
        if name not in self.names:
            raise InvalidInput(
                f"unknown language {language!r}; use an ISO 639-1 code or one of: {', '.join(sorted(self.names))}"
            )
        return name


def clean_text(text: str, what: str) -> str:
    """Reject empty text and text PostgreSQL cannot store (NUL); normalise line ends."""
    if "\x00" in text:
        raise InvalidInput(f"{what} contains a NUL character; remove it")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise InvalidInput(f"{what} is empty")
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class IngestOptions:
    tenant_id: str
    source: str | None = None
    language: str | None = None
    metadata: dict[str, Any] | None = None


LOADER_PROCESSES = 2
"""Worker processes that parse the files of a folder ingest (ipai-rag ingest, the ingest benchmark)."""
MAX_SOURCE_LENGTH = 256
"""A document's source names where it came from ("upload", "odoo://erp", a folder): short, and indexed."""
LOAD_LEASE_SECONDS = 60.0
_LOAD: contextvars.ContextVar[BacklogLoad | None] = contextvars.ContextVar("ipai_rag_load", default=None)


class IngestPipeline:
    """Prepares documents (clean, hash, chunk) and stores them in batches, one transaction each.

    Inside load(), a model that has no vectors yet gets its HNSW index built once after the load instead
    of vector by vector (migration 0011); store_batch() extends the load's lease, its end releases it to
    the embedding workers (migration 0014).
    From a load's second batch on, BM25 indexing is deferred to the lexical backlog (migration 0012), which
    the load drains beside the store and before it ends; a tenant without postings gets its postings and
    trigram indexes built once after that (migrations 0013, 0017)."""

    def __init__(
        self, db: Db, chunker: Chunker, store: DocumentStore, languages: Languages, backlog: LexicalBacklog,
        batch_size: int = 256,
    ) -> None:
        self.db = db
        self.chunker = chunker
        self.store = store
        self.languages = languages
        self.backlog = backlog
        self.batch_size = batch_size
        self._loads = 0
        self._model_indexed = store.model is None  # known to have vectors and its index: no deferring

    def prepare(self, doc: LoadedDocument, options: IngestOptions) -> PreparedDocument:
        text = clean_text(doc.text, f"document {doc.external_id!r}")
        if not doc.external_id or len(doc.external_id) > 1024:
            raise InvalidInput("external_id must be 1 to 1024 characters")
        language = self.languages.resolve(doc.language or options.language)
        metadata = check_json({**(options.metadata or {}), **doc.metadata}, "metadata")
        source = check_text(options.source or doc.source or "api", "source", MAX_SOURCE_LENGTH)
        title = " ".join(doc.title.split())
        if doc.sections:
            sections = doc.sections
            if text != doc.text:  # offsets refer to the original text: re-derive from the clean one
                sections = None
        else:
            sections = None
        chunks = self.chunker.chunk(text, sections, title)
        provenance = {**doc.provenance, "ingested_at": doc.provenance.get("ingested_at") or now_iso()}
        return PreparedDocument(
            external_id=doc.external_id, source=source, title=title, text=text,
            content_hash=text_hash(text), language=language, metadata=metadata, provenance=provenance,
            chunks=chunks,
        )

    async def ingest(self, docs: Iterable[LoadedDocument], options: IngestOptions) -> StoreResult:
        """Prepare and store all docs; each batch is one transaction."""
        total = StoreResult()
        async for result in self.ingest_batches(docs, options):
            total.add(result)
        return total

    async def ingest_batches(
        self, docs: Iterable[LoadedDocument], options: IngestOptions
    ) -> AsyncIterator[StoreResult]:
        async with self.load():
            async for batch in self.prepared_batches(docs, options):
                yield await self.store_batch(batch, options.tenant_id)

    async def prepared_batches(
        self, docs: Iterable[LoadedDocument], options: IngestOptions
    ) -> AsyncIterator[list[PreparedDocument]]:
        """Batches of prepared documents; the next batch is cleaned and chunked in a thread while the
        caller stores the current one (the database works on the other core meanwhile)."""
        loop = asyncio.get_running_loop()
        pending = iter(docs)

        def prepare_next() -> list[PreparedDocument]:
            return [self.prepare(doc, options) for doc in itertools.islice(pending, self.batch_size)]

        upcoming = loop.run_in_executor(None, prepare_next)
        while batch := await upcoming:
            upcoming = loop.run_in_executor(None, prepare_next)
            yield batch

    @contextlib.asynccontextmanager
    async def load(self) -> AsyncIterator[None]:
        """A bulk load: see the class. Its end drains the rest of the lexical backlog, builds the lexical
        indexes it deferred, and releases the deferred vector index to the embedding workers (the one that
        finishes the model's last job builds it; migration 0014)."""
        self._loads += 1
        backlog = self.backlog.start()
        token = _LOAD.set(backlog)
        try:
            yield
        finally:
            _LOAD.reset(token)
            self._loads -= 1
            try:
                await self.backlog.finish(backlog)
            finally:
                if not self._model_indexed:
                    await self.db.pool.execute(q("model_index_release"), self.store.model)

    async def store_batch(self, batch: Sequence[PreparedDocument], tenant_id: str, *,
                          defer_lexical: bool | None = None) -> StoreResult:
        """One batch in one transaction. defer_lexical: put its chunks in the lexical backlog instead of
        indexing them (default: from a load's second batch on); a caller outside a load drains it."""
        if self._loads and not self._model_indexed:
            deferred = await self.db.pool.fetchval(
                q("model_index_defer"), self.store.model, LOAD_LEASE_SECONDS)
            self._model_indexed = not deferred
        load = _LOAD.get()
        if load is not None:
            await self.backlog.defer_index(load, tenant_id)
        if defer_lexical is None:
            defer_lexical = load is not None and load.batches > 0
        async with self.db.tenant(tenant_id).acquire() as conn:
            if defer_lexical:
                await defer_lexical_indexing(conn)
            result = await self.store.store(conn, batch, tenant_id)
        if result.chunks_inserted:
            self.store.queue.wake()  # committed: this process' workers embed them now, not at their next poll
        if load is not None:
            load.batches += 1
            if defer_lexical:
                load.deferred(tenant_id, result.chunks_inserted)
        return result


class EmbeddingIndexer:
    """The embedding job handler: embeds a document's chunks that have no vector for the model yet."""

    def __init__(self, embedder: Embedder, db: Db) -> None:
        self.embedder = embedder
        self.db = db

    async def register_model(self, conn: asyncpg.Connection | asyncpg.Pool, activate: bool = True) -> None:
        """Register this embedder's model (and its HNSW index, unless a load has deferred it); make it
        the active one if asked."""
        await conn.execute(
            q("model_register"),
            self.embedder.name, self.embedder.provider, self.embedder.dimensions, activate,
        )

    async def after_batch(self) -> None:
        """Build the model's index if a load deferred it and the load and its embedding jobs are done."""
        await self.db.pool.fetchval(q("model_index_build"), self.embedder.name)

    async def handle(self, conn: asyncpg.Connection, jobs: Sequence[Job]) -> None:
        foreign = {j.payload.get("model") for j in jobs} - {self.embedder.name}
        if foreign:
            raise InvalidInput(
                f"this worker embeds with {self.embedder.name}, jobs ask for {sorted(map(str, foreign))}; "
                "run a worker configured with that model"
            )
        doc_ids = [int(j.payload["document_id"]) for j in jobs]
        # Every chunk of the documents: its text when it has no vector for the model yet, else its vector
        # (kept chunks of a partly re-embedded document count in the document's average).
        rows = await conn.fetch(
            q("embedding_job_chunks"),
            doc_ids, self.embedder.name,
        )
        if not rows:
            return
        fresh = [r for r in rows if r["embedding"] is None]
        kept = [r for r in rows if r["embedding"] is not None]
        vectors = await self.embedder.embed([embedding_text(r["heading"], r["content"]) for r in fresh]) if fresh \
            else np.zeros((0, self.embedder.dimensions), dtype=np.float32)
        await write_embeddings(conn, self.embedder.name, fresh, vectors, kept)


async def write_embeddings(
    conn: asyncpg.Connection, model: str, fresh: Sequence[asyncpg.Record], vectors: np.ndarray,
    kept: Sequence[asyncpg.Record],
) -> None:
    """The fresh chunks' vectors (a chunk embedded meanwhile by another job is kept) and the documents'
    own vectors: the normalised mean of their chunks' vectors, the fresh ones and those kept (read with
    their vector), in one statement."""
    matrix = np.concatenate([vectors, [r["embedding"].to_numpy() for r in kept]]) if kept else vectors
    documents, slot = np.unique([r["document_id"] for r in (*fresh, *kept)], return_inverse=True)
    order = np.argsort(slot, kind="stable")
    starts = np.searchsorted(slot[order], np.arange(len(documents)))
    sums = np.add.reduceat(matrix[order].astype(np.float64), starts)  # normalised, a sum is the mean
    means = (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    await conn.execute(
        q("embeddings_write"),
        model, [r["id"] for r in fresh], [r["tenant_id"] for r in fresh], [r["content_hash"] for r in fresh],
        [Vector(v) for v in vectors], documents.tolist(), [Vector(v) for v in means],
    )


def embed_queue(db: Db) -> Queue:
    return Queue(db, EMBED_QUEUE)
