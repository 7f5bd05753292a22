"""Request and response contracts of the knowledge-base API."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from app.params import NO_NUL, Language, NonBlank, RowId, stated
from app.search.schemas import ChunkFlag
from ingest.loaders.files import CONTENT_TYPES
from ingest.pipeline import MAX_SOURCE_LENGTH

ExternalId = Annotated[str, stated("the document's id in its source, up to 1024 characters (absent or empty: "
                                   "sha256:<hash of the content>)", maxLength=1024)]


class DocumentIn(msgspec.Struct, forbid_unknown_fields=True):
    """A document to ingest. Same (source, external_id) again = an update; unchanged = a no-op."""

    content: NonBlank
    external_id: ExternalId | None = None
    title: str = ""
    source: Annotated[str, stated("where the document comes from", maxLength=MAX_SOURCE_LENGTH)] = "api"
    language: Language | None = None
    metadata: dict[str, Any] = {}
    format: Literal["markdown", "rst", "text", "html", "csv"] = "markdown"
    """How to read the content's headings (sections and heading paths)."""


class DocumentUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """New text (and optionally title, language, metadata) for an existing document."""

    content: NonBlank
    title: str | None = None
    language: Language | None = None
    metadata: dict[str, Any] | None = None
    format: Literal["markdown", "rst", "text", "html", "csv"] = "markdown"


class ChunkOut(msgspec.Struct):
    id: int
    ordinal: int
    content: str
    section_path: str
    char_start: int
    char_end: int
    token_count: int
    content_hash: str
    embedded: bool
    flags: list[ChunkFlag] = msgspec.field(default_factory=list)
    """Spans of content flagged at ingest as instructions to the assistant: never quoted, never given to a model."""


class OriginalOut(msgspec.Struct):
    """The stored file a document was parsed from (GET /v1/kb/documents/{id}/original downloads it)."""

    bucket: str
    key: str
    size: int
    content_type: str
    sha256: str


class DocumentOut(msgspec.Struct):
    id: int
    external_id: str
    title: str
    source: str
    version: int
    language: str
    content_hash: str
    metadata: dict[str, Any]
    provenance: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    status: Literal["queued", "parsing", "embedding", "ready", "failed"]
    """queued and parsing: the file waits for (or is in) a worker's parser; embedding: chunks wait for vectors;
    ready: searchable whole; failed: status_reason says why (POST .../retry tries again)."""
    status_reason: str | None
    chunk_count: int
    embedded_chunks: int
    original: OriginalOut | None = None
    chunks: list[ChunkOut] | None = None


DOCUMENT_STATUSES = ["queued", "parsing", "embedding", "ready", "failed"]


class IngestOut(msgspec.Struct):
    """What an ingest call did (with ?async=true: the documents queued for parsing, counts all 0)."""

    documents: list[DocumentOut]
    inserted: int
    updated: int
    unchanged: int
    chunks_inserted: int
    chunks_kept: int
    chunks_deleted: int


class DocumentPage(msgspec.Struct):
    items: list[DocumentOut]
    next_cursor: int | None


class ReindexFilters(msgspec.Struct, forbid_unknown_fields=True):
    sources: list[str] | None = None
    languages: list[Language] | None = None
    document_ids: list[RowId] | None = None
    metadata: dict[str, Any] | None = None


class ReindexIn(msgspec.Struct, forbid_unknown_fields=True):
    """Re-chunk and/or re-embed all documents or a filtered set (re-embed can target another model)."""

    rechunk: bool = False
    reparse: bool = False
    """Parse each document again from its stored original with the current parsers (then re-chunk); documents
    without an original are re-chunked from their text."""
    reembed: bool = True
    model: Annotated[str, stated("an embedding model registered on this server (a worker configured with it "
                                 "started once); default: the active one")] | None = None
    filters: ReindexFilters = msgspec.field(default_factory=ReindexFilters)


class ReindexOut(msgspec.Struct):
    documents: int
    reparsed: int
    chunks_inserted: int
    chunks_deleted: int
    jobs_enqueued: int
    model: str


# A file upload to POST and PUT /v1/kb/documents (besides a JSON body): the form the controller reads.
UPLOAD_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "additionalProperties": False,
    "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "Markdown, reStructuredText, text, HTML, PDF, Word, Excel, CSV or JSON Lines (.gz too); "
                                "the file name's extension (or else the part's content type) names its format"},
        "external_id": {"type": "string", "pattern": NO_NUL},
        "title": {"type": "string", "pattern": NO_NUL},
        "source": {"type": "string", "pattern": NO_NUL, "maxLength": MAX_SOURCE_LENGTH},
        "language": msgspec.json.schema(Language),
        "metadata": {"$ref": "#/components/schemas/JsonObject", "description": 'e.g. {"team": "finance"}'},
    },
}
UPLOAD_ENCODING = {"metadata": {"contentType": "application/json"},
                   "file": {"contentType": ", ".join(CONTENT_TYPES)}}
