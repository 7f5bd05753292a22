"""Knowledge-base operations shared by the API and the CLI: ingest, read, update, reindex, export."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from sql.errors import InvalidInput, NotFound
from app.kb.schemas import ChunkOut, DocumentOut, IngestOut, ReindexIn, ReindexOut
from app.search.schemas import ChunkFlag
from app.services import Services
from ingest.chunking import text_hash
from ingest.loaders import LoadedDocument, parse_text
from ingest.pipeline import IngestOptions
from ingest.store import StoreResult
from sql.queries import q


def document_out(row: asyncpg.Record, chunks: list[ChunkOut] | None = None) -> DocumentOut:
    data = dict(row)
    return DocumentOut(**data, chunks=chunks)


class KnowledgeBase:
    """One tenant's view of the knowledge base."""

    def __init__(self, services: Services, tenant_id: str) -> None:
        self.services = services
        self.tenant_id = tenant_id
        self.db = services.db.tenant(tenant_id)

    @property
    def model(self) -> str:
        return self.services.embedder.name

    async def ingest(self, docs: Sequence[LoadedDocument], options: IngestOptions, *, wait: float = 0) -> IngestOut:
        result = await self.services.pipeline.ingest(docs, options)
        if wait:
            await self.wait_embedded(result.document_ids, wait)
        return await self.ingest_out(result)

    async def ingest_out(self, result: StoreResult) -> IngestOut:
        documents = [await self.get(i) for i in result.document_ids[:100]]
        return IngestOut(
            documents=documents, inserted=result.inserted, updated=result.updated, unchanged=result.unchanged,
            chunks_inserted=result.chunks_inserted, chunks_kept=result.chunks_kept,
            chunks_deleted=result.chunks_deleted,
        )

    async def wait_embedded(self, document_ids: Sequence[int], timeout: float) -> bool:
        """Poll until every chunk of the documents has a vector of the active model, or the timeout."""
        deadline = time.monotonic() + timeout
        pause = 0.01  # the in-process worker starts at once (Queue.wake): look again soon, then less often
        while True:
            missing = await self.db.fetchval(
                q("chunks_unembedded_count"),
                list(document_ids), self.model,
            )
            if not missing:
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)

    async def get(self, document_id: int, *, with_chunks: bool = False) -> DocumentOut:
        async with self.db.acquire() as conn:
            row = await conn.fetchrow(q("document_by_id"), document_id, self.tenant_id, self.model)
            if row is None:
                raise NotFound(f"document {document_id} does not exist")
            chunks = None
            if with_chunks:
                chunks = [ChunkOut(**{**dict(r), "flags": [ChunkFlag(**f) for f in r["flags"]]})
                          for r in await conn.fetch(q("document_chunks"), document_id, self.model)]
        return document_out(row, chunks)

    async def list(
        self, *, cursor: int = 0, limit: int = 50, source: str | None = None, language: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[list[DocumentOut], int | None]:
        if not 1 <= limit <= 500:
            raise InvalidInput("limit must be between 1 and 500")
        if language is not None:
            language = self.services.languages.resolve(language)
        reader = await self.services.db.reader(self.tenant_id)  # a list may lag: a read replica serves it
        rows = await reader.fetch(
            q("documents_page"), self.tenant_id, cursor, self.model, source, language, metadata, limit + 1
        )
        items = [document_out(r) for r in rows[:limit]]
        return items, (items[-1].id if len(rows) > limit else None)

    async def update(
        self, document_id: int, content: str, *, title: str | None = None, language: str | None = None,
        metadata: dict[str, Any] | None = None, text_format: str = "markdown",
    ) -> IngestOut:
        """New text for a document (its format parsed as an upload's would be)."""
        return await self.replace(document_id, parse_text(content, text_format, title or "", ""), title=title,
                                  language=language, metadata=metadata)

    async def replace(self, document_id: int, doc: LoadedDocument, *, title: str | None = None,
                      language: str | None = None, metadata: dict[str, Any] | None = None) -> IngestOut:
        """A document's text replaced by a loaded one (a JSON body's or an uploaded file's): its title follows
        the new text's first heading (an upload's: its file name without one) unless a title is given; a JSON
        text without a heading keeps the title."""
        row = await self.db.fetchrow(q("document_content"), document_id, self.tenant_id)
        if row is None:
            raise NotFound(f"document {document_id} does not exist")
        doc.external_id, doc.source = row["external_id"], row["source"]
        doc.title = title or doc.title or row["title"]
        doc.metadata = row["metadata"] if metadata is None else metadata
        doc.provenance = {**row["provenance"], **doc.provenance, "updated_via": "api", "ingested_at": None}
        doc.language = language or row["language"]
        return await self.ingest([doc], IngestOptions(tenant_id=self.tenant_id))

    async def first_existing(self, docs: Sequence[LoadedDocument], source: str) -> DocumentOut | None:
        """The first stored document that one of these would replace (same source and external id), if any."""
        rows = await self.db.fetch(q("documents_by_key"), self.tenant_id, source, [d.external_id for d in docs])
        return await self.get(rows[0]["id"]) if rows else None

    async def delete(self, document_id: int) -> None:
        if await self.db.fetchval(q("delete_document"), document_id, self.tenant_id) is None:
            raise NotFound(f"document {document_id} does not exist")

    async def reindex(self, request: ReindexIn) -> ReindexOut:
        """Re-chunk (stored text, current chunker) and/or re-embed the matching documents."""
        services = self.services
        model = request.model or self.model
        if await self.db.fetchval(q("model_exists"), model) is None:
            raise NotFound(f"embedding model {model!r} is not registered; start a worker configured with it first")
        f = request.filters
        languages = [services.languages.resolve(x) for x in f.languages] if f.languages else None
        rows = await self.db.fetch(
            q("reindex_targets"), self.tenant_id, f.sources, languages, f.document_ids, f.metadata
        )
        inserted = deleted = jobs = 0
        ids = [r["id"] for r in rows]
        async with self.db.acquire() as conn:
            if request.rechunk:
                prepared = [
                    services.pipeline.prepare(
                        LoadedDocument(r["external_id"], r["title"], r["content"], metadata=r["metadata"],
                                       provenance=r["provenance"], language=r["language"], source=r["source"]),
                        IngestOptions(tenant_id=self.tenant_id),
                    )
                    for r in rows
                ]
                result = await services.pipeline.store.store(conn, prepared, self.tenant_id, force=True)
                inserted, deleted = result.chunks_inserted, result.chunks_deleted
            if request.reembed:
                if model == self.model:
                    await conn.execute(q("forget_embeddings"), ids, model)
                for doc_id in ids:
                    if await services.queue.enqueue(
                        conn, "embed_document", {"document_id": doc_id, "model": model},
                        tenant_id=self.tenant_id, dedupe_key=f"{doc_id}:{model}",
                    ):
                        jobs += 1
        return ReindexOut(documents=len(ids), chunks_inserted=inserted, chunks_deleted=deleted,
                          jobs_enqueued=jobs, model=model)

    async def export(self, source: str | None = None) -> AsyncIterator[bytes]:
        """NDJSON lines that `ipai-rag ingest` reads back losslessly (server-side cursor, constant memory; from a
        read replica when there is one)."""
        async with (await self.services.db.reader(self.tenant_id)).acquire() as conn:
            async for row in conn.cursor(q("export_documents"), self.tenant_id, source, prefetch=200):
                line = {
                    "external_id": row["external_id"], "source": row["source"], "title": row["title"],
                    "content": row["content"], "language": row["language"], "metadata": row["metadata"],
                    "provenance": row["provenance"], "version": row["version"],
                    "content_hash": text_hash(row["content"]),
                }
                yield (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
