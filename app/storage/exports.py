"""POST /v1/exports: a report written into the tenant's exports bucket (streamed, as NDJSON or CSV) and handed
back as a signed URL - the knowledge base (as GET /v1/kb/export) or the Odoo drift report."""
from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, UTC
from typing import Any

from litestar import Controller, Request, post

from app.kb.service import KnowledgeBase, ndjson
from app.odoo.seed import drift
from app.security.keys import Principal
from app.services import Services
from app.storage.http import uploader
from app.storage.schemas import ExportIn, ExportOut, ObjectOut
from sql.errors import Forbidden, InvalidInput

DOCUMENT_COLUMNS = ["external_id", "source", "title", "language", "version", "content_hash", "metadata",
                    "provenance", "content"]
MEDIA = {"ndjson": "application/x-ndjson", "csv": "text/csv"}
READ_SCOPE = {"documents": "kb:read", "drift": "sync"}


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


async def as_csv(rows: AsyncIterator[dict[str, Any]], columns: list[str]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    async for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


class ExportsController(Controller):
    path = "/v1/exports"
    tags = ["storage"]

    @post("", operation_id="createExport", status_code=201, opt={"scope": "storage:write"})
    async def create(self, request: Request, services: Services, tenant_id: str, principal: Principal,
                     data: ExportIn) -> ExportOut:
        """Write a report into the exports bucket (kept for the bucket's retention) and return a signed URL to
        it. Needs storage:write and the report's own scope (kb:read for documents, sync for drift)."""
        if not principal.allows(READ_SCOPE[data.what]):
            raise Forbidden(f"exporting {data.what} needs the scope {READ_SCOPE[data.what]!r} as well")
        if data.source is not None and data.what != "documents":
            raise InvalidInput("source filters the documents export only")
        rows: AsyncIterator[dict[str, Any]]
        if data.what == "documents":
            rows, columns = KnowledgeBase(services, tenant_id).export_rows(data.source), DOCUMENT_COLUMNS
        else:
            report = await drift(services.db.tenant(tenant_id), tenant_id)
            flat = [{"report": name, **row} for name, items in report.items() for row in items]
            columns = ["report", *dict.fromkeys(k for row in flat for k in row if k != "report")]

            async def listed() -> AsyncIterator[dict[str, Any]]:
                for row in flat:
                    yield row

            rows = listed()
        chunks = as_csv(rows, columns) if data.format == "csv" else ndjson(rows)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        key = f"{data.what}/{stamp}-{uuid.uuid4().hex[:8]}.{data.format}"
        storage = services.storage
        obj, _ = await storage.put(tenant_id, "exports", key, chunks, MEDIA[data.format], uploader=uploader(principal))
        url, expires = await storage.sign(tenant_id, "exports", key, data.expires_in, str(request.base_url))
        return ExportOut(ObjectOut.of(obj), url, datetime.fromtimestamp(expires, UTC))
