"""A document's lifecycle in the background: a file uploaded with ?async=true is parsed by a worker (queued ->
parsing -> parsed, or failed with the reason), embedded (embedding -> ready; a dead embedding job fails the
document), retried on request; every status change goes out on the realtime channel 'documents'."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import asyncpg

from app.services import Services
from ingest.loaders import load_bytes
from ingest.pipeline import IngestOptions
from sql.errors import IpaiError
from sql.queries import q
from sql.queue import Job
from sql.values import storable

log = logging.getLogger(__name__)

PARSE_JOB = "parse_document"
EMBED_JOB = "embed_document"
REASON_LENGTH = 500


async def publish(services: Services, conn: asyncpg.Connection, document_ids: Sequence[int]) -> None:
    """A 'documents' event per document, with its status and counts, in the caller's transaction."""
    if document_ids:
        await conn.execute(q("documents_publish"), list(document_ids), services.embedder.name)


async def set_status(services: Services, tenant_id: str, document_ids: Sequence[int], status: str,
                     reason: str | None = None) -> None:
    """A parse status in a transaction of its own (seen at once), with its events. Never called while a
    transaction of the caller holds a document's row: it would wait for it."""
    async with services.db.tenant(tenant_id).acquire() as conn:
        changed = [i for i in document_ids if await conn.fetchval(q("document_parse_status"), i, status, reason)]
        await publish(services, conn, changed)


async def enqueue_parse(services: Services, conn: asyncpg.Connection, tenant_id: str, document_id: int,
                        overrides: dict[str, object]) -> None:
    await services.queue.enqueue(conn, PARSE_JOB, {"document_id": document_id, "overrides": overrides},
                                 tenant_id=tenant_id, dedupe_key=f"parse:{document_id}")


async def handle_parse_jobs(services: Services, conn: asyncpg.Connection, jobs: Sequence[Job]) -> None:
    """Parse each document's original and store its text and chunks (which enqueues their embedding). A file
    that does not parse fails its document with the parser's reason; that is the job's result, not an error.
    The jobs' documents show as parsing first, committed before this transaction writes anything."""
    rows = {}
    for job in jobs:
        row = await conn.fetchrow(q("document_state"), int(job.payload["document_id"]), job.tenant_id)
        if row is not None and row["parse_status"] in ("queued", "parsing") and row["original_id"] is not None:
            rows[row["id"]] = row  # else deleted, or retried or replaced meanwhile
    if rows:
        await set_status(services, jobs[0].tenant_id, sorted(rows), "parsing")
    for job in jobs:
        document_id = int(job.payload["document_id"])
        row = rows.pop(document_id, None)
        if row is None:
            continue
        try:
            obj = await services.storage.by_id(job.tenant_id, row["original_id"])
            data = await services.storage.read_all(obj)
            name = str(row["provenance"].get("file") or obj.key.rsplit("/", 1)[-1])
            limit = services.settings.server.max_decompressed_bytes
            docs = await asyncio.to_thread(lambda: list(load_bytes(data, name, obj.content_type,
                                                                   max_decompressed=limit)))
            if len(docs) != 1:
                raise IpaiError(f"the file holds {len(docs)} documents; upload it without async to ingest them all")
            doc = docs[0]
            overrides = job.payload.get("overrides") or {}
            doc.external_id, doc.source = row["external_id"], row["source"]
            doc.title = str(overrides.get("title") or doc.title or row["title"])
            doc.language = str(overrides.get("language") or "") or None
            doc.metadata, doc.provenance = row["metadata"], {**row["provenance"], **doc.provenance}
            pipeline = services.pipeline
            prepared = await asyncio.to_thread(pipeline.prepare, doc, IngestOptions(tenant_id=job.tenant_id))
        except (IpaiError, ValueError, OSError) as exc:
            reason = exc.detail if isinstance(exc, IpaiError) else f"{type(exc).__name__}: {exc}"
            log.info("document %s failed to parse: %s", document_id, reason)
            await conn.execute(q("document_parse_status"), document_id, "failed", storable(reason[:REASON_LENGTH]))
            await publish(services, conn, [document_id])
            continue
        # A first parse fills the placeholder (its version stays 1); a re-parse is an edit like any other.
        await pipeline.store.store(conn, [prepared], job.tenant_id, force=not row["has_text"])
        await conn.execute(q("document_parse_status"), document_id, "parsed", None)
        await publish(services, conn, [document_id])


async def handle_jobs(services: Services, conn: asyncpg.Connection, jobs: Sequence[Job]) -> None:
    """The knowledge base's queue: parse jobs, then embedding jobs (whose documents' progress is published)."""
    parse = [j for j in jobs if j.kind == PARSE_JOB]
    embed = [j for j in jobs if j.kind != PARSE_JOB]
    if parse:
        await handle_parse_jobs(services, conn, parse)
    if embed:
        await services.indexer.handle(conn, embed)
        await publish(services, conn, sorted({int(j.payload["document_id"]) for j in embed}))


async def job_failed(services: Services, job: Job, status: str, error: str) -> None:
    """A dead parse or embedding job fails its document (retry enqueues it again)."""
    if status == "dead" and job.kind in (PARSE_JOB, EMBED_JOB):
        step = "parsing" if job.kind == PARSE_JOB else "embedding"
        await set_status(services, job.tenant_id, [int(job.payload["document_id"])], "failed",
                         f"{step} failed: {error}"[:REASON_LENGTH])
