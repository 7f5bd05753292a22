"""Request and response contracts of the storage API."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from app.params import NO_NUL
from app.storage.service import MAX_SIGNED_SECONDS, Bucket, StoredObject

MediaPattern = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9!#$&^_.+-]+/([a-z0-9!#$&^_.+-]+|\*)$",
                                           description="a media type, or type/* for all of a type",
                                           max_length=255)]
ExpiresIn = Annotated[int, msgspec.Meta(ge=1, le=MAX_SIGNED_SECONDS, description="seconds the URL stays valid")]


class ObjectOut(msgspec.Struct):
    bucket: str
    key: str
    size: int
    content_type: str
    sha256: str
    etag: str
    uploader: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    document_ids: list[int] | None = None
    """With ?ingest=true: the knowledge-base documents made from the file."""

    @classmethod
    def of(cls, obj: StoredObject, document_ids: list[int] | None = None) -> ObjectOut:
        return cls(obj.bucket, obj.key, obj.size, obj.content_type, obj.sha256, obj.etag, obj.uploader, obj.metadata,
                   obj.created_at, obj.updated_at, document_ids)


class ObjectPage(msgspec.Struct):
    items: list[ObjectOut]
    next_cursor: str | None
    """The key after which the next page starts (cursor=...); null on the last page."""


class BucketOut(msgspec.Struct):
    name: str
    description: str
    public: bool
    max_object_bytes: int
    content_types: list[str]
    retention_days: int | None
    """Objects older than this are deleted by the daily cleanup job; null = kept until deleted."""

    @classmethod
    def of(cls, b: Bucket) -> BucketOut:
        return cls(b.name, b.description, b.public, b.max_object_bytes, list(b.content_types), b.retention_days)


class BucketUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """A tenant's settings of a bucket; null = the bucket's default."""

    max_object_bytes: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] | None = None
    content_types: Annotated[list[MediaPattern], msgspec.Meta(min_length=1, max_length=100)] | None = None
    retention_days: Annotated[int, msgspec.Meta(ge=0, le=36500, description="0 = kept until deleted")] | None = None


class SignIn(msgspec.Struct, forbid_unknown_fields=True):
    expires_in: ExpiresIn = 3600


class SignedUrl(msgspec.Struct):
    url: str
    """GET it without credentials until it expires (then 403)."""
    expires_at: datetime
    bucket: str
    key: str


class ExportIn(msgspec.Struct, forbid_unknown_fields=True):
    """What to export into the exports bucket."""

    json_schema: ClassVar[dict[str, Any]] = {  # source filters documents only (for app.openapi)
        "if": {"required": ["source"]}, "then": {"properties": {"what": {"const": "documents"}}}}

    what: Literal["documents", "drift"] = "documents"
    """documents: the knowledge base (as `GET /v1/kb/export`); drift: the Odoo drift report."""
    format: Literal["ndjson", "csv"] = "ndjson"
    source: Annotated[str, msgspec.Meta(pattern=NO_NUL, max_length=200)] | None = None
    """documents only: just this source."""
    expires_in: ExpiresIn = 3600


class ExportOut(msgspec.Struct):
    object: ObjectOut
    url: str
    """A signed URL that downloads the export without credentials until it expires."""
    expires_at: datetime
