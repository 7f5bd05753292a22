"""HTTP handlers of the knowledge-base API (/v1/kb)."""
from __future__ import annotations

import json
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import UploadFile
from litestar.params import Parameter
from litestar.response import Stream

from sql.errors import BadRequest, Conflict, InvalidInput, UnsupportedMediaType
from app.kb.schemas import (
    UPLOAD_FORM, DocumentIn, DocumentOut, DocumentPage, DocumentUpdate, IngestOut, ReindexIn, ReindexOut,
)
from app.kb.service import KnowledgeBase
from app.params import LANGUAGES, row_id
from app.bodies import read_body
from sql.values import MAX_JSON_DEPTH, check_json
from app.security.keys import Principal
from app.services import Services
from app.storage.http import download, uploader
from ingest.chunking import text_hash
from ingest.loaders import LoadedDocument, load_bytes, parse_text
from ingest.pipeline import IngestOptions

WAIT_SECONDS = 60.0
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


class KnowledgeBaseController(Controller):
    path = "/v1/kb"
    tags = ["knowledge base"]

    @post("/documents", operation_id="createDocument", status_code=201, opt={"scope": "kb:write", "body": DocumentIn})
    async def create_document(
        self, request: Request, services: Services, tenant_id: str, principal: Principal,
        wait: bool = Parameter(default=False, description=WAIT_DESCRIPTION),
        replace: bool = Parameter(default=False, description=REPLACE_DESCRIPTION),
    ) -> IngestOut:
        """Ingest a document from a JSON body or a multipart file upload (up to 50 MiB)."""
        kb = KnowledgeBase(services, tenant_id)
        content_type = request.headers.get("content-type", "")
        original = None
        if content_type.startswith("multipart/form-data"):
            docs, options, upload = await self._from_upload(request, tenant_id)
            if not replace and (taken := await kb.first_existing(docs, options.source or "upload")):
                raise Conflict(
                    f"a document with the external id {taken.external_id!r} exists in source {taken.source!r} "
                    f"(id {taken.id}); send replace=true to replace it, PUT /v1/kb/documents/{taken.id}, or "
                    "another external_id", extra={"document": msgspec.to_builtins(taken)})
            original = await kb.store_original(*upload, uploader=uploader(principal))
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
        return await kb.ingest(docs, options, wait=WAIT_SECONDS if wait else 0, original=original)

    @staticmethod
    async def _from_upload(request: Request, tenant_id: str
                           ) -> tuple[list[LoadedDocument], IngestOptions, tuple[bytes, str, str | None]]:
        """An upload's documents, options and file (bytes, name, content type)."""
        form = await request.form()
        unknown = sorted(set(form.keys()) - UPLOAD_FIELDS)
        if unknown:
            raise InvalidInput(f"unknown form field {unknown[0]!r}; an upload takes {', '.join(sorted(UPLOAD_FIELDS))}")
        repeated = sorted(name for name in form.keys() if len(form.getall(name)) > 1)
        if repeated:
            raise InvalidInput(f"the form field {repeated[0]!r} is given more than once")
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("multipart upload needs a 'file' part")
        data = await upload.read()
        name = upload.filename or "upload"
        docs = list(load_bytes(data, name, upload.content_type,
                               max_decompressed=request.app.state.settings.server.max_decompressed_bytes))
        external_id = form.get("external_id")
        if external_id and len(docs) == 1:
            docs[0].external_id = str(external_id)
        title = form.get("title")
        if title and len(docs) == 1:
            docs[0].title = str(title)
        for doc in docs:
            doc.provenance.setdefault("via", "upload")
            doc.source = doc.source or "upload"
        options = IngestOptions(
            tenant_id=tenant_id, source=str(form["source"]) if form.get("source") else None,
            language=str(form["language"]) if form.get("language") else None,
            metadata=_metadata_param(form.get("metadata")),  # type: ignore[arg-type]
        )
        return docs, options, (data, name, upload.content_type)

    @get("/documents", operation_id="listDocuments", opt={"scope": "kb:read"})
    async def list_documents(
        self, services: Services, tenant_id: str,
        cursor: int = row_id("id after which the page starts (next_cursor)", ge=0, default=0),
        limit: int = Parameter(default=50, ge=1, le=500),
        source: str | None = None,
        language: str | None = Parameter(default=None, description="an ISO 639-1 code or a configuration name",
                                         schema_extra={"enum": LANGUAGES}),
        metadata: str | None = Parameter(default=None, description='JSON object the metadata must contain'),
    ) -> DocumentPage:
        """List documents, paginated by cursor, filtered by source, language and metadata."""
        items, next_cursor = await KnowledgeBase(services, tenant_id).list(
            cursor=cursor, limit=limit, source=source, language=language, metadata=_metadata_param(metadata)
        )
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
            docs, options, upload = await self._from_upload(request, tenant_id)
            if len(docs) != 1:
                raise InvalidInput(f"a file that replaces one document must hold one document, not {len(docs)}")
            title = (await request.form()).get("title")  # the form is read once; this is its cached copy
            await kb.get(document_id)  # 404 before the file is kept
            original = await kb.store_original(*upload, uploader=uploader(principal))
            out = await kb.replace(document_id, docs[0], title=str(title) if title else None,
                                   language=options.language, metadata=options.metadata, original=original)
        else:
            body = await read_body(request)
            out = await kb.update(document_id, body.content, title=body.title, language=body.language,
                                  metadata=body.metadata, text_format=body.format)
        if wait:
            await kb.wait_embedded([document_id], WAIT_SECONDS)
            out.documents = [await kb.get(document_id)]
        return out

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

    @get("/export", operation_id="exportDocuments", media_type="application/x-ndjson", opt={"scope": "kb:read"})
    async def export(self, services: Services, tenant_id: str, source: str | None = None) -> Stream:
        """Every document as NDJSON, one per line; `ipai-rag ingest` reads it back."""
        return Stream(KnowledgeBase(services, tenant_id).export(source), media_type="application/x-ndjson")
