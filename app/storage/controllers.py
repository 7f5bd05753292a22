"""The storage API: objects in buckets (/v1/storage), bucket settings (/v1/buckets), reads without credentials
by signed URL (/v1/signed) and from the public bucket (/v1/public)."""
from __future__ import annotations

from datetime import datetime, UTC
from typing import Annotated
from urllib.parse import unquote_to_bytes

from litestar import Controller, Request, Response, delete, get, head, post, put
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from app.bodies import read_body
from app.kb.service import KnowledgeBase
from app.params import NO_NUL, stated_param
from app.security.keys import Principal
from app.services import Services
from app.storage.schemas import BucketOut, BucketUpdate, ObjectOut, ObjectPage, SignedUrl, SignIn
from app.storage.http import download, head_response, read_capped, uploader
from app.storage.service import KEY_PATTERN, MAX_KEY_LENGTH, check_key, media_type
from sql.errors import InvalidInput, NotFound, PayloadTooLarge
from sql.values import TENANT_NAME

BucketName = Annotated[str, stated_param("the bucket: documents, attachments, exports, public or kb",
                                         enum=["attachments", "documents", "exports", "kb", "public"])]
KeyPath = Annotated[str, stated_param(
    "the object's key: a relative path such as bir/2026/2550M/form.pdf (segments neither empty, '.' nor '..'; no "
    "backslash or control character)", pattern=KEY_PATTERN, maxLength=MAX_KEY_LENGTH)]
SIGN_SUFFIX = "/sign"


def raw_key(request: Request, segments: int) -> str:
    """The key as sent: the request's raw path after its first `segments` segments, percent-decoded. (Litestar
    collapses '//' in the path it routes, and hands a path parameter over as a pathlib.Path, which drops '/./':
    the key check must see what the client sent.)"""
    raw = request.scope.get("raw_path")
    try:
        # (some servers and test clients leave the query string on raw_path; a '?' in a key is sent as %3F)
        path = unquote_to_bytes(raw.split(b"?", 1)[0]).decode("utf-8") if raw else request.scope["path"]
    except UnicodeDecodeError as exc:
        raise InvalidInput("the object key is not UTF-8 once percent-decoded") from exc
    parts = path.split("/", segments + 1)
    return parts[segments + 1] if len(parts) > segments + 1 else ""


def _length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise InvalidInput(f"Content-Length {value!r} is not a number of bytes")
    return int(value)


class StorageController(Controller):
    path = "/v1/storage"
    tags = ["storage"]

    @put("/{bucket:str}/{key:path}", operation_id="putObject", status_code=201, request_max_body_size=None,
         responses={200: ResponseSpec(ObjectOut, description="The object replaced the key's previous one.")},
         opt={"scope": "storage:write", "raw_body": True, "upload": True})
    async def put_object(
        self, request: Request, services: Services, tenant_id: str, principal: Principal, bucket: BucketName,
        key: KeyPath,
        ingest: bool = Parameter(default=False, description="also ingest the file into the knowledge base (source "
                                 "storage:<bucket>, external id = the key); a file no parser reads is refused"),
    ) -> Response[ObjectOut]:
        """Store the request body under the key (streamed: never held whole in memory), replacing what was there:
        201 for a new object, 200 for a replaced one. Its Content-Type must be one the bucket takes."""
        key, length = check_key(raw_key(request, 3)), _length(request)
        content_type = request.headers.get("content-type")
        storage = services.storage
        if not ingest:
            obj, created = await storage.put(tenant_id, bucket, key, request.stream(), content_type, length=length,
                                             uploader=uploader(principal))
            return Response(ObjectOut.of(obj), status_code=201 if created else 200)
        # To ingest, the file is parsed before it is stored: a file no parser reads is refused and not kept.
        (await storage.bucket(tenant_id, bucket)).check(media_type(content_type), length)
        cap = services.settings.server.max_upload_bytes
        if length is not None and length > cap:
            raise PayloadTooLarge(f"a file to ingest may hold at most {cap} bytes (MAX_UPLOAD_BYTES)")
        data = await read_capped(request.stream(), cap, "a file to ingest (MAX_UPLOAD_BYTES)")
        kb = KnowledgeBase(services, tenant_id)
        docs = kb.load(data, key, content_type)
        obj, created = await storage.put_bytes(tenant_id, bucket, key, data, content_type, uploader=uploader(principal))
        ids = await kb.ingest_file(obj, docs, source=f"storage:{bucket}")
        return Response(ObjectOut.of(obj, ids), status_code=201 if created else 200)

    @get("/{bucket:str}/{key:path}", operation_id="getObject", opt={"scope": "storage:read", "download": True})
    async def get_object(self, request: Request, services: Services, tenant_id: str, bucket: BucketName,
                         key: KeyPath) -> Response:
        """Download an object, streamed, with ETag and Last-Modified; `Range: bytes=a-b` answers 206 with that
        part; `If-None-Match` with its ETag answers 304."""
        return download(services, request, await services.storage.head(tenant_id, bucket, raw_key(request, 3)))

    @head("/{bucket:str}/{key:path}", operation_id="headObject", opt={"scope": "storage:read", "headers_only": True})
    async def head_object(self, request: Request, services: Services, tenant_id: str, bucket: BucketName,
                          key: KeyPath) -> Response[None]:
        """An object's size, type and ETag, without its bytes."""
        return head_response(await services.storage.head(tenant_id, bucket, raw_key(request, 3)))

    @delete("/{bucket:str}/{key:path}", operation_id="deleteObject", status_code=204, opt={"scope": "storage:write"})
    async def delete_object(self, request: Request, services: Services, tenant_id: str, bucket: BucketName,
                            key: KeyPath) -> None:
        """Delete an object (a knowledge-base document made from it keeps its text and loses its original)."""
        await services.storage.delete(tenant_id, bucket, raw_key(request, 3))

    @post("/{bucket:str}/{key:path}", operation_id="signObject", status_code=200,
          opt={"scope": "storage:read", "body": SignIn})
    async def sign(self, request: Request, services: Services, tenant_id: str, bucket: BucketName,
                   key: Annotated[str, stated_param("the object's key followed by /sign",
                                                    pattern=KEY_PATTERN.removesuffix("$") + "/sign$")]
                   ) -> SignedUrl:
        """POST /v1/storage/{bucket}/{key}/sign: a URL that downloads the object without credentials until it
        expires (HMAC-SHA256 over the method, the path and the expiry, with the tenant's key from the vault)."""
        target = raw_key(request, 3)
        if not target.endswith(SIGN_SUFFIX):
            raise NotFound(f"POST {request.scope['path']!r}: an object path takes POST only as <key>/sign")
        body = await read_body(request) if (await request.body()).strip() else SignIn()
        target = target.removesuffix(SIGN_SUFFIX)
        url, expires = await services.storage.sign(tenant_id, bucket, target, body.expires_in, str(request.base_url))
        return SignedUrl(url, datetime.fromtimestamp(expires, UTC), bucket, target)

    @get("/{bucket:str}", operation_id="listObjects", opt={"scope": "storage:read"})
    async def list_objects(
        self, services: Services, tenant_id: str, bucket: BucketName,
        prefix: str = stated_param("only keys that start with this", default="", pattern=NO_NUL,
                                   maxLength=MAX_KEY_LENGTH),
        cursor: str | None = stated_param("the key after which the page starts (next_cursor)", default=None,
                                          pattern=NO_NUL, maxLength=MAX_KEY_LENGTH),
        limit: int = Parameter(default=100, ge=1, le=1000),
    ) -> ObjectPage:
        """A bucket's objects in key order, filtered by key prefix, paginated by cursor."""
        items, next_cursor = await services.storage.list(tenant_id, bucket, prefix, cursor, limit)
        return ObjectPage([ObjectOut.of(o) for o in items], next_cursor)


class BucketsController(Controller):
    path = "/v1/buckets"
    tags = ["storage"]

    @get("", operation_id="listBuckets", opt={"scope": "storage:read"})
    async def list_buckets(self, services: Services, tenant_id: str) -> list[BucketOut]:
        """The tenant's buckets with their limits, content types and retention."""
        return [BucketOut.of(b) for b in await services.storage.buckets(tenant_id)]

    @put("/{bucket:str}", operation_id="configureBucket", opt={"scope": "admin"})
    async def configure(self, services: Services, tenant_id: str, bucket: BucketName, data: BucketUpdate) -> BucketOut:
        """Set the tenant's object size limit, content types and retention of a bucket (null = the default)."""
        return BucketOut.of(await services.storage.configure(
            tenant_id, bucket, max_object_bytes=data.max_object_bytes, content_types=data.content_types,
            retention_days=data.retention_days))


class SignedController(Controller):
    """Reads that need no credentials: a signed URL, or the public bucket."""

    tags = ["storage"]

    @get("/v1/signed/{tenant:str}/{bucket:str}/{key:path}", operation_id="getSignedObject",
         opt={"public": True, "download": True})
    async def signed(
        self, request: Request, services: Services, tenant: str, bucket: BucketName, key: KeyPath,
        expires: int = Parameter(description="Unix time the URL expires", ge=0, le=2**53),
        signature: str = stated_param("hex HMAC-SHA256", pattern="^[0-9a-f]{64}$"),
    ) -> Response:
        """Download an object by a URL from POST .../sign, until it expires."""
        if not TENANT_NAME.match(tenant):
            raise NotFound("no such signed object")
        obj = await services.storage.verify(tenant, bucket, raw_key(request, 4), expires, signature)
        return download(services, request, obj)

    @get("/v1/public/{tenant:str}/{key:path}", operation_id="getPublicObject", opt={"public": True, "download": True})
    async def public(self, request: Request, services: Services, tenant: str, key: KeyPath) -> Response:
        """Download an object of a tenant's public bucket, without credentials."""
        if not TENANT_NAME.match(tenant):
            raise NotFound("no such public object")
        obj = await services.storage.head(tenant, "public", raw_key(request, 3))
        return download(services, request, obj, cache="public, max-age=300")
