"""Writes documents and chunks: hash-based no-ops, partial re-chunking, one transaction per batch."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, UTC
from typing import Any

import asyncpg

from sql.queue import Queue
from ingest.chunking import Chunk
from sql.queries import q

EMBED_QUEUE = "embed"
CHUNK_COLUMNS = [
    "document_id", "tenant_id", "ordinal", "content", "content_hash", "token_count", "section_path",
    "heading", "char_start", "char_end", "language", "metadata",
]


async def copy_chunks(conn: asyncpg.Connection, rows: Sequence[tuple]) -> None:
    """Binary COPY into a temp table, then one INSERT ... SELECT: row-level security refuses COPY into a
    table it guards, and the chunk triggers run once per statement either way. The temp table is emptied after
    each use (its ON COMMIT DELETE ROWS alone would copy the rows again into a later store of the transaction). (The two statements are built
    here from CHUNK_COLUMNS, the one list of the columns the COPY writes; no value enters their text.)"""
    await conn.execute(
        f"""CREATE TEMP TABLE IF NOT EXISTS chunks_in ON COMMIT DELETE ROWS AS
            SELECT {', '.join(CHUNK_COLUMNS)} FROM rag.chunks WITH NO DATA""")
    await conn.copy_records_to_table("chunks_in", columns=CHUNK_COLUMNS, records=rows)
    columns = ", ".join(CHUNK_COLUMNS)
    await conn.execute(f"INSERT INTO rag.chunks ({columns}) SELECT {columns} FROM chunks_in")
    await conn.execute("TRUNCATE chunks_in")  # a second store in the same transaction starts empty


@dataclass
class PreparedDocument:
    """A document ready to store: resolved fields and its chunks."""

    external_id: str
    source: str
    title: str
    text: str
    content_hash: str
    language: str
    metadata: dict[str, Any]
    provenance: dict[str, Any]
    chunks: list[Chunk]


@dataclass
class StoreResult:
    """What one store call changed."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks_inserted: int = 0
    chunks_kept: int = 0
    chunks_deleted: int = 0
    document_ids: list[int] = field(default_factory=list)

    def add(self, other: StoreResult) -> None:
        for name in ("inserted", "updated", "unchanged", "chunks_inserted", "chunks_kept", "chunks_deleted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.document_ids.extend(other.document_ids)


def chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    """What a chunk's metadata records: the spans flagged as instructions to the assistant, if any."""
    if not chunk.flags:
        return {}
    return {"flags": [{"kind": "instruction", "start": a, "end": b} for a, b in chunk.flags]}


def heading_for(title: str, section_path: str) -> str:
    """The text indexed and embedded with a chunk besides its content: "title > section path"."""
    if not section_path:
        return title
    if not title or section_path == title or section_path.startswith(title + " > "):
        return section_path
    return f"{title} > {section_path}"


def embedding_text(heading: str, content: str) -> str:
    """What the embedder sees for a chunk (and what the eval cache is keyed by)."""
    return f"{heading}\n{content}" if heading else content


class DocumentStore:
    """Stores prepared documents for one tenant and enqueues embedding of new chunks."""

    def __init__(self, queue: Queue, model: str | None) -> None:
        self.queue = queue
        self.model = model

    async def store(
        self, conn: asyncpg.Connection, docs: Sequence[PreparedDocument], tenant_id: str, *, force: bool = False
    ) -> StoreResult:
        """Write docs in the caller's transaction. Unchanged documents cause no writes at all.

        force=True re-chunks unchanged documents too (reindex after a chunker change), without
        bumping their version.
        """
        result = StoreResult()
        if not docs:
            return result
        # The same (source, external_id) twice in one call: the last one wins.
        unique: dict[tuple[str, str], PreparedDocument] = {}
        for doc in docs:
            unique[(doc.source, doc.external_id)] = doc
        docs = list(unique.values())
        existing = {
            (r["source"], r["external_id"]): r
            for r in await conn.fetch(
                q("documents_existing"),
                tenant_id, [d.source for d in docs], [d.external_id for d in docs],
            )
        }
        new_docs, changed = [], []
        for doc in docs:
            row = existing.get((doc.source, doc.external_id))
            if row is None:
                new_docs.append(doc)
            elif not force and (
                row["content_hash"] == doc.content_hash and row["title"] == doc.title
                and row["language"] == doc.language and row["metadata"] == doc.metadata
            ):
                result.unchanged += 1
                result.document_ids.append(row["id"])
            else:
                changed.append((row, doc))

        chunk_rows: list[tuple[Any, ...]] = []
        to_embed: list[int] = []
        if new_docs:
            ids = await conn.fetch(
                q("documents_insert"),
                tenant_id, [d.external_id for d in new_docs], [d.title for d in new_docs],
                [d.source for d in new_docs], [d.provenance for d in new_docs], [d.language for d in new_docs],
                [d.text for d in new_docs], [d.content_hash for d in new_docs], [d.metadata for d in new_docs],
            )
            for record, doc in zip(ids, new_docs):
                doc_id = record["id"]
                result.document_ids.append(doc_id)
                chunk_rows.extend(self._chunk_rows(doc_id, tenant_id, doc, doc.chunks))
                result.chunks_inserted += len(doc.chunks)
                if doc.chunks:
                    to_embed.append(doc_id)
            result.inserted += len(new_docs)

        if changed:
            await self._update_changed(conn, changed, tenant_id, chunk_rows, to_embed, result, bump=not force)

        if chunk_rows:
            await copy_chunks(conn, chunk_rows)
        if self.model and to_embed:
            await self.queue.enqueue_many(
                conn, "embed_document", [{"document_id": doc_id, "model": self.model} for doc_id in to_embed],
                [f"{doc_id}:{self.model}" for doc_id in to_embed], tenant_id=tenant_id,
            )
        return result

    @staticmethod
    def _chunk_rows(doc_id: int, tenant_id: str, doc: PreparedDocument, chunks: Sequence[Chunk]) -> list[tuple]:
        rows = []
        for c in chunks:
            rows.append((
                doc_id, tenant_id, c.ordinal, c.content, c.content_hash, c.token_count, c.section_path,
                heading_for(doc.title, c.section_path), c.char_start, c.char_end, doc.language, chunk_metadata(c),
            ))
        return rows

    async def _update_changed(
        self, conn: asyncpg.Connection, changed: list[tuple[asyncpg.Record, PreparedDocument]], tenant_id: str,
        chunk_rows: list[tuple[Any, ...]], to_embed: list[int], result: StoreResult, bump: bool = True,
    ) -> None:
        ids = [row["id"] for row, _ in changed]
        await conn.execute(
            q("documents_update"),
            ids, [d.title for _, d in changed], [d.provenance for _, d in changed],
            [d.language for _, d in changed], [d.text for _, d in changed],
            [d.content_hash for _, d in changed], [d.metadata for _, d in changed], 1 if bump else 0,
        )
        old = defaultdict(list)
        for r in await conn.fetch(
            q("chunks_of_documents"),
            ids,
        ):
            old[r["document_id"]].append(r)
        keep_ids, keep_ordinals, keep_starts, keep_ends, keep_paths, delete_ids = [], [], [], [], [], []
        for row, doc in changed:
            doc_id = row["id"]
            result.document_ids.append(doc_id)
            available = defaultdict(list)
            for chunk in old[doc_id]:
                available[(chunk["content_hash"], chunk["heading"], chunk["language"])].append(chunk["id"])
            fresh = []
            for c in doc.chunks:
                key = (c.content_hash, heading_for(doc.title, c.section_path), doc.language)
                if available.get(key):
                    keep_ids.append(available[key].pop(0))
                    keep_ordinals.append(c.ordinal)
                    keep_starts.append(c.char_start)
                    keep_ends.append(c.char_end)
                    keep_paths.append(c.section_path)
                    result.chunks_kept += 1
                else:
                    fresh.append(c)
            for leftovers in available.values():
                delete_ids.extend(leftovers)
            chunk_rows.extend(self._chunk_rows(doc_id, tenant_id, doc, fresh))
            result.chunks_inserted += len(fresh)
            if fresh:
                to_embed.append(doc_id)
        result.updated += len(changed)
        if delete_ids:
            await conn.execute(q("chunks_delete"), delete_ids)
            result.chunks_deleted += len(delete_ids)
        if keep_ids:
            await conn.execute(
                q("chunks_move"),
                keep_ids, keep_ordinals, keep_starts, keep_ends, keep_paths,
            )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
