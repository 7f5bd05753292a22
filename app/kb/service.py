"""Knowledge-base operations shared by the API and the CLI: ingest, read, update, reindex, export."""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import msgspec

from app.kb.lifecycle import EMBED_JOB, enqueue_parse, publish
from sql.errors import Conflict, InvalidInput, IpaiError, NotFound
from sql.values import check_json
from app.kb.schemas import ChunkOut, DocumentOut, IngestOut, OriginalOut, ReindexIn, ReindexOut
from app.storage.service import StoredObject
from app.search.schemas import ChunkFlag
from app.services import Services
from ingest.chunking import text_hash
from ingest.loaders import LoadedDocument, load_bytes, parse_text
from ingest.pipeline import IngestOptions
from ingest.store import StoreResult
from sql.queries import q

log = logging.getLogger(__name__)


def document_out(row: asyncpg.Record, chunks: list[ChunkOut] | None = None) -> DocumentOut:
    data = dict(row)
    original = data.pop("original")
    return DocumentOut(**data, original=OriginalOut(**original) if original else None, chunks=chunks)


ORIGINALS_BUCKET = "kb"


def file_name(name: str) -> str:
    """An uploaded file's name as one safe key segment."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    safe = "".join(c if c.isprintable() else "_" for c in base).strip()
    return safe if safe not in ("", ".", "..") else "upload"


class KnowledgeBase:
    """One tenant's view of the knowledge base."""

    def __init__(self, services: Services, tenant_id: str) -> None:
        self.services = services
        self.tenant_id = tenant_id
        self.db = services.db.tenant(tenant_id)

    @property
    def model(self) -> str:
        return self.services.embedder.name

    async def ingest(self, docs: Sequence[LoadedDocument], options: IngestOptions, *, wait: float = 0,
                     original: StoredObject | None = None) -> IngestOut:
        """Store documents (parsed already); `original` is the stored file they were parsed from."""
        result = await self.services.pipeline.ingest(docs, options)
        if original is not None:
            await self._link_original(result.document_ids, original)
        async with self.db.acquire() as conn:
            await publish(self.services, conn, result.document_ids[:1000])
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

    def load(self, data: bytes, name: str, content_type: str | None) -> list[LoadedDocument]:
        """The documents of a file's bytes (4xx for a file no parser reads)."""
        limit = self.services.settings.server.max_decompressed_bytes
        return list(load_bytes(data, name, content_type, max_decompressed=limit))

    async def store_original(self, data: bytes, name: str, content_type: str | None,
                             uploader: str | None) -> StoredObject:
        """Keep an uploaded file in the kb bucket (equal files are kept once) so that it can be downloaded and
        parsed again."""
        key = f"uploads/{hashlib.sha256(data).hexdigest()}/{file_name(name)}"
        obj, _ = await self.services.storage.put_bytes(self.tenant_id, ORIGINALS_BUCKET, key, data,
                                                       content_type or "application/octet-stream", uploader=uploader)
        return obj

    async def ingest_file(self, obj: StoredObject, docs: list[LoadedDocument], source: str) -> list[int]:
        """Ingest the documents parsed from a stored object (external id: the key), linked to it."""
        for doc in docs:
            if len(docs) == 1:
                doc.external_id = obj.key
            doc.source = source
            doc.provenance = {**doc.provenance, "via": "storage", "bucket": obj.bucket, "key": obj.key}
        out = await self.ingest(docs, IngestOptions(tenant_id=self.tenant_id, source=source), original=obj)
        return [d.id for d in out.documents]

    async def _link_original(self, document_ids: Sequence[int], original: StoredObject) -> None:
        """Link documents to the file they were parsed from; an original they leave behind is deleted."""
        async with self.db.acquire() as conn:
            before = {r["original_id"] for r in await conn.fetch(q("documents_link_original"), original.id,
                                                                 list(document_ids))} - {None}
            blobs = await self._drop_unused_originals(conn, before)
        for blob in blobs:
            await self.services.storage.release(blob)

    async def _drop_unused_originals(self, conn: asyncpg.Connection, object_ids: set[int]) -> list[str]:
        unused = [i for i in object_ids if await conn.fetchval(q("original_unused"), i)]
        return await self.services.storage.delete_ids(conn, unused) if unused else []

    async def original(self, document_id: int) -> StoredObject:
        object_id = await self.db.fetchval(q("document_original"), document_id, self.tenant_id)
        if object_id is None:
            if await self.db.fetchval(q("document_content"), document_id, self.tenant_id) is None:
                raise NotFound(f"document {document_id} does not exist")
            raise NotFound(f"document {document_id} has no stored original (it came as text, or before originals "
                           "were kept)")
        return await self.services.storage.by_id(self.tenant_id, object_id)

    async def wait_embedded(self, document_ids: Sequence[int], timeout: float) -> bool:
        """Poll until every chunk of the documents has a vector of the active model, or the timeout."""
        return await self._poll(q("chunks_unembedded_count"), document_ids, timeout)

    async def wait_settled(self, document_ids: Sequence[int], timeout: float) -> bool:
        """Poll until none of the documents is queued, parsing or embedding, or the timeout."""
        return await self._poll(q("documents_unsettled"), document_ids, timeout)

    async def _poll(self, count_query: str, document_ids: Sequence[int], timeout: float) -> bool:
        """Until the query counts nothing left for the documents (True), or the timeout (False)."""
        deadline = time.monotonic() + timeout
        pause = 0.01  # the in-process worker starts at once (Queue.wake): look again soon, then less often
        while await self.db.fetchval(count_query, list(document_ids), self.model):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
        return True

    async def queue_file(self, original: StoredObject, *, external_id: str, title: str, options: IngestOptions,
                         overrides: dict[str, Any]) -> IngestOut:
        """A file kept and queued for a worker to parse (?async=true): its document exists at once, queued (an
        existing document keeps its text and chunks until the parse replaces them)."""
        language = self.services.languages.resolve(options.language)
        metadata = check_json(options.metadata or {}, "metadata")
        source = options.source or "upload"
        provenance = {"via": "upload", "file": original.key.rsplit("/", 1)[-1]}
        async with self.db.acquire() as conn:
            document_id = await conn.fetchval(q("document_queue"), self.tenant_id, external_id, title, source,
                                              provenance, language, metadata, original.id)
            await enqueue_parse(self.services, conn, self.tenant_id, document_id, overrides)
            await publish(self.services, conn, [document_id])
        await self._link_original([document_id], original)
        return IngestOut(documents=[await self.get(document_id)], inserted=0, updated=0, unchanged=0,
                         chunks_inserted=0, chunks_kept=0, chunks_deleted=0)

    async def retry(self, document_id: int) -> DocumentOut:
        """A failed document tried again: parsed again from its original when its parse failed (or it has no
        text), else its embedding enqueued again."""
        async with self.db.acquire() as conn:
            row = await conn.fetchrow(q("document_state"), document_id, self.tenant_id)
            if row is None:
                raise NotFound(f"document {document_id} does not exist")
            if row["parse_status"] != "failed":
                current = await self.get(document_id)
                raise Conflict(f"document {document_id} is {current.status}, not failed: nothing to retry",
                               extra={"document": msgspec.to_builtins(current)})
            if row["has_text"] and (row["status_reason"] or "").startswith("embedding failed"):
                await conn.execute(q("document_parse_status"), document_id, "parsed", None)
                await self.services.queue.enqueue(conn, EMBED_JOB, {"document_id": document_id, "model": self.model},
                                                  tenant_id=self.tenant_id, dedupe_key=f"{document_id}:{self.model}")
            elif row["original_id"] is None:
                raise Conflict(f"document {document_id} has no stored original to parse again; upload the file again")
            else:
                await conn.execute(q("document_parse_status"), document_id, "queued", None)
                await enqueue_parse(self.services, conn, self.tenant_id, document_id, {})
            await publish(self.services, conn, [document_id])
        return await self.get(document_id)

    async def get(self, document_id: int, *, with_chunks: bool = False) -> DocumentOut:
        async with self.db.acquire() as conn:
            row = await conn.fetchrow(q("documents_page"), self.tenant_id, 0, self.model, None, None, None, 1, None,
                                      document_id)
            if row is None:
                raise NotFound(f"document {document_id} does not exist")
            chunks = None
            if with_chunks:
                chunks = [ChunkOut(**{**dict(r), "flags": [ChunkFlag(**f) for f in r["flags"]]})
                          for r in await conn.fetch(q("document_chunks"), document_id, self.model)]
        return document_out(row, chunks)

    async def list(
        self, *, cursor: int = 0, limit: int = 50, source: str | None = None, language: str | None = None,
        metadata: dict[str, Any] | None = None, status: str | None = None,
    ) -> tuple[list[DocumentOut], int | None]:
        if not 1 <= limit <= 500:
            raise InvalidInput("limit must be between 1 and 500")
        if language is not None:
            language = self.services.languages.resolve(language)
        reader = await self.services.db.reader(self.tenant_id)  # a list may lag: a read replica serves it
        rows = await reader.fetch(
            q("documents_page"), self.tenant_id, cursor, self.model, source, language, metadata, limit + 1, status,
            None)
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
                      language: str | None = None, metadata: dict[str, Any] | None = None,
                      original: StoredObject | None = None) -> IngestOut:
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
        return await self.ingest([doc], IngestOptions(tenant_id=self.tenant_id), original=original)

    async def first_existing(self, external_ids: Sequence[str], source: str) -> DocumentOut | None:
        """The first stored document that one of these would replace (same source and external id), if any."""
        rows = await self.db.fetch(q("documents_by_key"), self.tenant_id, source, list(external_ids))
        return await self.get(rows[0]["id"]) if rows else None

    async def delete(self, document_id: int) -> None:
        """Delete a document, and its original unless another document was parsed from it too."""
        storage = self.services.storage
        async with self.db.acquire() as conn:
            row = await conn.fetchrow(q("delete_document"), document_id, self.tenant_id)
            if row is None:
                raise NotFound(f"document {document_id} does not exist")
            blobs = await self._drop_unused_originals(conn, {row["original_id"]} - {None})
        for blob in blobs:
            await storage.release(blob)

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
        inserted = deleted = jobs = reparsed = 0
        ids = [r["id"] for r in rows]
        docs = [LoadedDocument(r["external_id"], r["title"], r["content"], metadata=r["metadata"],
                               provenance=r["provenance"], language=r["language"], source=r["source"]) for r in rows]
        if request.reparse:
            for row, doc in zip(rows, docs):
                if row["original_id"] and await self._reparse(doc, row["original_id"]):
                    reparsed += 1
        async with self.db.acquire() as conn:
            if request.rechunk or request.reparse:
                prepared = [services.pipeline.prepare(doc, IngestOptions(tenant_id=self.tenant_id)) for doc in docs]
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
        return ReindexOut(documents=len(ids), reparsed=reparsed, chunks_inserted=inserted, chunks_deleted=deleted,
                          jobs_enqueued=jobs, model=model)

    async def _reparse(self, doc: LoadedDocument, object_id: int) -> bool:
        """Replace a document's text and sections by its original's, parsed again; False (text kept) when the
        original is gone or no longer parses."""
        try:
            obj = await self.services.storage.by_id(self.tenant_id, object_id)
            name = str(doc.provenance.get("file") or obj.key)
            parsed = self.load(await self.services.storage.read_all(obj), name, obj.content_type)
        except (IpaiError, OSError) as exc:
            log.warning("document %s keeps its text: its original does not parse again (%s)", doc.external_id, exc)
            return False
        match = next((p for p in parsed if p.external_id == doc.external_id), parsed[0] if len(parsed) == 1 else None)
        if match is None:
            return False
        doc.text, doc.sections = match.text, match.sections
        return True

    async def export_rows(self, source: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every document (server-side cursor, constant memory; from a read replica when there is one)."""
        async with (await self.services.db.reader(self.tenant_id)).acquire() as conn:
            async for row in conn.cursor(q("export_documents"), self.tenant_id, source, prefetch=200):
                yield {
                    "external_id": row["external_id"], "source": row["source"], "title": row["title"],
                    "content": row["content"], "language": row["language"], "metadata": row["metadata"],
                    "provenance": row["provenance"], "version": row["version"],
                    "content_hash": text_hash(row["content"]),
                }

    def export(self, source: str | None = None) -> AsyncIterator[bytes]:
        """NDJSON lines that `ipai-rag ingest` reads back losslessly."""
        return ndjson(self.export_rows(source))


async def ndjson(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """One JSON line per row (UTF-8, values JSON does not know, such as timestamps, as their text)."""
    async for row in rows:
        yield (json.dumps(row, ensure_ascii=False, default=str) + "\n").encode("utf-8")
