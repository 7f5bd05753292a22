"""HTTP handlers of the knowledge-base API (/v1/kb)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.openapi import ResponseSpec
from litestar.datastructures import UploadFile
from litestar.params import Parameter
from litestar.response import ServerSentEvent, Stream

from sql.errors import BadRequest, Conflict, InvalidInput, UnsupportedMediaType
from app.kb.schemas import (
    DOCUMENT_STATUSES, UPLOAD_FORM, DocumentIn, DocumentOut, DocumentPage, DocumentUpdate, IngestOut, ReindexIn, ReindexOut,
)
from app.kb.service import KnowledgeBase
from app.realtime.controllers import subscribe
from app.params import LANGUAGES, row_id, stated_param
from app.bodies import read_body
from sql.values import MAX_JSON_DEPTH, check_json
from app.security.keys import Principal
from app.services import Services
from app.storage.http import download, uploader
from ingest.chunking import text_hash
from ingest.loaders import LoadedDocument, load_bytes, parse_text
from ingest.loaders.files import kind_of
from ingest.pipeline import IngestOptions

WAIT_SECONDS = 25.0
WAIT_DESCRIPTION = (f"return once every chunk is embedded, or after {WAIT_SECONDS:.0f} s "
                    "(embedded_chunks says how far the workers got)")
REPLACE_DESCRIPTION = ("with a file upload: replace the document of the same source and external id (without it, "
                       "such an upload is a 409 that returns the existing document)")


def _metadata_param(raw: str | None) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    try:
        value = check_json(json.loads(raw), "metadata")
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"metadata must be a JSON object, e.g. {{\"team\": \"finance\"}}: {exc.msg}") from exc
    except RecursionError as exc:
        raise InvalidInput(f"metadata nests deeper than {MAX_JSON_DEPTH} levels") from exc
    if not isinstance(value, dict):
        raise InvalidInput("metadata must be a JSON object")
    return value


UPLOAD_FIELDS = frozenset(UPLOAD_FORM["properties"])
ASYNC_DESCRIPTION = ("with a file upload: keep the file and answer 202 at once with its document queued; a worker "
                     "parses it (status queued, parsing, embedding, ready or failed with the reason, on the realtime "
                     "channel 'documents'). A JSON body or a JSON Lines file is parsed in the request either way.")


@dataclass(frozen=True)
class Upload:
    """An upload form: the file and its fields."""

    data: bytes
    name: str
    content_type: str | None
    external_id: str | None
    title: str | None
    options: IngestOptions


class KnowledgeBaseController(Controller):
    path = "/v1/kb"
    tags = ["knowledge base"]

    @post("/documents", operation_id="createDocument", status_code=201,
          responses={202: ResponseSpec(IngestOut, description="With async=true: the file is kept and its document "
                                                              "queued for a worker to parse (status queued).")},
          opt={"scope": "kb:write", "body": DocumentIn})
    async def create_document(
        self, request: Request, services: Services, tenant_id: str, principal: Principal,
        wait: bool = Parameter(default=False, description=WAIT_DESCRIPTION),
        replace: bool = Parameter(default=False, description=REPLACE_DESCRIPTION),
        background: bool = Parameter(query="async", default=False, description=ASYNC_DESCRIPTION),
    ) -> Response[IngestOut]:
        """Ingest a document from a JSON body or a multipart file upload (up to 50 MiB)."""
        kb = KnowledgeBase(services, tenant_id)
        content_type = request.headers.get("content-type", "")
        original = None
        if content_type.startswith("multipart/form-data"):
            upload = await self._read_upload(request, tenant_id)
            source = upload.options.source or "upload"
            if background and kind_of(upload.name, upload.content_type, upload.data) != "jsonl":
                external_id = upload.external_id or upload.name
                if not replace:
                    await self._refuse_taken(kb, [external_id], source)
                original = await kb.store_original(upload.data, upload.name, upload.content_type,
                                                   uploader=uploader(principal))
                out = await kb.queue_file(original, external_id=external_id, options=upload.options,
                                          title=upload.title or Path(upload.name).stem or upload.name,
                                          overrides={"title": upload.title, "language": upload.options.language})
                if wait:
                    await kb.wait_settled([d.id for d in out.documents], WAIT_SECONDS)
                    out.documents = [await kb.get(d.id) for d in out.documents]
                return Response(out, status_code=202)
            docs = self._parse_upload(request, upload)
            if not replace:
                await self._refuse_taken(kb, [d.external_id for d in docs], source)
            original = await kb.store_original(upload.data, upload.name, upload.content_type,
                                               uploader=uploader(principal))
            options = upload.options
        elif content_type.split(";")[0].strip() in ("application/json", ""):
            body = await read_body(request)
            docs = [parse_text(body.content, body.format, body.title,
                               body.external_id or f"sha256:{text_hash(body.content)}")]
            docs[0].metadata, docs[0].provenance = body.metadata, {"via": "api"}
            docs[0].language, docs[0].source = body.language, body.source
            options = IngestOptions(tenant_id=tenant_id)
        else:
            raise UnsupportedMediaType(
                f"content type {content_type!r} is not accepted; send application/json or multipart/form-data"
            )
        return Response(await kb.ingest(docs, options, wait=WAIT_SECONDS if wait else 0, original=original),
                        status_code=201)

    @staticmethod
    async def _refuse_taken(kb: KnowledgeBase, external_ids: list[str], source: str) -> None:
        """An upload does not silently replace a document of the same source and external id: 409."""
        if taken := await kb.first_existing(external_ids, source):
            raise Conflict(
                f"a document with the external id {taken.external_id!r} exists in source {taken.source!r} "
                f"(id {taken.id}); send replace=true to replace it, PUT /v1/kb/documents/{taken.id}, or "
                "another external_id", extra={"document": msgspec.to_builtins(taken)})

    @staticmethod
    async def _read_upload(request: Request, tenant_id: str) -> Upload:
        """An upload form's file and fields."""
        form = await request.form()
        unknown = sorted(set(form.keys()) - UPLOAD_FIELDS)
        if unknown:
            raise InvalidInput(f"unknown form field {unknown[0]!r}; an upload takes {', '.join(sorted(UPLOAD_FIELDS))}")
        repeated = sorted(name for name in form.keys() if len(form.getall(name)) > 1)
        if repeated:
            raise InvalidInput(f"the form field {repeated[0]!r} is given more than once")
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise BadRequest("multipart upload needs a 'file' part")
        options = IngestOptions(
            tenant_id=tenant_id, source=str(form["source"]) if form.get("source") else None,
            language=str(form["language"]) if form.get("language") else None,
            metadata=_metadata_param(form.get("metadata")),  # type: ignore[arg-type]
        )
        return Upload(await file.read(), file.filename or "upload", file.content_type,
                      str(form["external_id"]) if form.get("external_id") else None,
                      str(form["title"]) if form.get("title") else None, options)

    @staticmethod
    def _parse_upload(request: Request, upload: Upload) -> list[LoadedDocument]:
        """The documents of an uploaded file, parsed here (4xx for a file no parser reads)."""
        docs = list(load_bytes(upload.data, upload.name, upload.content_type,
                               max_decompressed=request.app.state.settings.server.max_decompressed_bytes))
        if upload.external_id and len(docs) == 1:
            docs[0].external_id = upload.external_id
        if upload.title and len(docs) == 1:
            docs[0].title = upload.title
        for doc in docs:
            doc.provenance.setdefault("via", "upload")
            doc.source = doc.source or "upload"
        return docs

    @get("/documents", operation_id="listDocuments", opt={"scope": "kb:read"})
    async def list_documents(
        self, services: Services, tenant_id: str,
        cursor: int = row_id("id after which the page starts (next_cursor)", ge=0, default=0),
        limit: int = Parameter(default=50, ge=1, le=500),
        source: str | None = None,
        language: str | None = Parameter(default=None, description="an ISO 639-1 code or a configuration name",
                                         schema_extra={"enum": LANGUAGES}),
        metadata: str | None = Parameter(default=None, description='JSON object the metadata must contain'),
        status: str | None = stated_param("only documents of this status", default=None, enum=DOCUMENT_STATUSES),
    ) -> DocumentPage:
        """List documents, paginated by cursor, filtered by source, language, metadata and status."""
        if status is not None and status not in DOCUMENT_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(DOCUMENT_STATUSES)}")
        items, next_cursor = await KnowledgeBase(services, tenant_id).list(
            cursor=cursor, limit=limit, source=source, language=language, metadata=_metadata_param(metadata),
            status=status)
        return DocumentPage(items=items, next_cursor=next_cursor)

    @get("/documents/{document_id:int}", operation_id="getDocument", opt={"scope": "kb:read"})
    async def get_document(
        self, services: Services, tenant_id: str, chunks: bool = False, document_id: int = row_id()
    ) -> DocumentOut:
        """One document, optionally with its chunks."""
        return await KnowledgeBase(services, tenant_id).get(document_id, with_chunks=chunks)

    @put("/documents/{document_id:int}", operation_id="updateDocument",
         opt={"scope": "kb:write", "body": DocumentUpdate})
    async def update_document(
        self, request: Request, services: Services, tenant_id: str, principal: Principal,
        wait: bool = Parameter(default=False, description=WAIT_DESCRIPTION), document_id: int = row_id()
    ) -> IngestOut:
        """Replace a document's text (JSON, or a multipart file upload); only changed chunks are re-embedded."""
        kb = KnowledgeBase(services, tenant_id)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            upload = await self._read_upload(request, tenant_id)
            docs = self._parse_upload(request, upload)
            if len(docs) != 1:
                raise InvalidInput(f"a file that replaces one document must hold one document, not {len(docs)}")
            await kb.get(document_id)  # 404 before the file is kept
            original = await kb.store_original(upload.data, upload.name, upload.content_type,
                                               uploader=uploader(principal))
            out = await kb.replace(document_id, docs[0], title=upload.title, language=upload.options.language,
                                   metadata=upload.options.metadata, original=original)
        else:
            body = await read_body(request)
            out = await kb.update(document_id, body.content, title=body.title, language=body.language,
                                  metadata=body.metadata, text_format=body.format)
        if wait:
            await kb.wait_embedded([document_id], WAIT_SECONDS)
            out.documents = [await kb.get(document_id)]
        return out

    @post("/documents/{document_id:int}/retry", operation_id="retryDocument", status_code=202,
          opt={"scope": "kb:write"})
    async def retry(self, services: Services, tenant_id: str, document_id: int = row_id()) -> DocumentOut:
        """Try a failed document again: parse its original again (when parsing failed), or embed it again (when
        embedding failed). A document that is not failed is a 409."""
        return await KnowledgeBase(services, tenant_id).retry(document_id)

    @get("/documents/{document_id:int}/original", operation_id="getDocumentOriginal",
         opt={"scope": "kb:read", "download": True})
    async def get_original(self, request: Request, services: Services, tenant_id: str,
                           document_id: int = row_id()) -> Response:
        """Download the file the document was parsed from (Range and If-None-Match as for stored objects)."""
        return download(services, request, await KnowledgeBase(services, tenant_id).original(document_id))

    @delete("/documents/{document_id:int}", operation_id="deleteDocument", status_code=204, opt={"scope": "kb:write"})
    async def delete_document(self, services: Services, tenant_id: str, document_id: int = row_id()) -> None:
        """Delete a document with its chunks and vectors."""
        await KnowledgeBase(services, tenant_id).delete(document_id)

    @post("/reindex", operation_id="reindex", status_code=202,
          opt={"scope": "kb:write"})
    async def reindex(self, services: Services, tenant_id: str, data: ReindexIn | None = None) -> ReindexOut:
        """Re-chunk and/or re-embed all or a filtered set of documents (e.g. into a new model)."""
        data = data or ReindexIn()
        return await KnowledgeBase(services, tenant_id).reindex(data)

    @get("/events", operation_id="documentEvents", opt={"scope": "kb:read", "streams": ("documents",),
                                                        "stream_only": True})
    async def events(self, request: Request, services: Services, tenant_id: str,
                     principal: Principal) -> ServerSentEvent:
        """Server-Sent Events of the documents channel: each status change of a document (id, title, status,
        reason, counts). Last-Event-ID resumes."""
        return subscribe(request, services, tenant_id, principal, "documents")

    @get("/export", operation_id="exportDocuments", media_type="application/x-ndjson", opt={"scope": "kb:read"})
    async def export(self, services: Services, tenant_id: str, source: str | None = None) -> Stream:
        """Every document as NDJSON, one per line; `ipai-rag ingest` reads it back."""
        return Stream(KnowledgeBase(services, tenant_id).export(source), media_type="application/x-ndjson")
