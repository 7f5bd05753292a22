"""HTTP side of stored files, shared by the storage and knowledge-base APIs: streamed downloads with ETag,
Range and If-None-Match, and who uploaded what."""
from __future__ import annotations

from collections.abc import AsyncIterable
from datetime import UTC
from email.utils import format_datetime
from urllib.parse import quote

from litestar import Request, Response
from litestar.response import Stream

from app.security.keys import Principal
from app.services import Services
from app.storage.service import StoredObject, parse_range
from sql.errors import PayloadTooLarge


def object_headers(obj: StoredObject) -> dict[str, str]:
    """A stored file's headers. It goes out as an attachment, unsniffed and sandboxed: an HTML or SVG file someone
    stored never runs as a page of the service's origin (an <img> or a download still works)."""
    return {"ETag": obj.etag, "Last-Modified": format_datetime(obj.updated_at.astimezone(UTC), usegmt=True),
            "Accept-Ranges": "bytes", "X-Content-Type-Options": "nosniff",
            "Content-Disposition": content_disposition(obj.key.rsplit("/", 1)[-1]),
            "Content-Security-Policy": "default-src 'none'; sandbox"}


def download(services: Services, request: Request, obj: StoredObject, *, cache: str = "private, no-cache") -> Response:
    """The object's bytes, streamed: 304 when If-None-Match names its ETag, 206 for one byte range."""
    headers = {**object_headers(obj), "Cache-Control": cache}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and (if_none_match.strip() == "*" or obj.etag in [t.strip().removeprefix("W/")
                                                                         for t in if_none_match.split(",")]):
        return Response(content=None, status_code=304, headers=headers)
    span = parse_range(request.headers.get("range"), obj.size)
    if_range = request.headers.get("if-range")
    if span is not None and if_range and if_range.strip() != obj.etag:
        span = None  # the object changed since the client's first part: send it whole
    if span is None:
        headers["Content-Length"] = str(obj.size)
        return Stream(services.storage.read(obj), status_code=200, media_type=obj.content_type, headers=headers)
    start, end = span
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{obj.size}"
    headers["Content-Length"] = str(end - start)
    return Stream(services.storage.read(obj, span), status_code=206, media_type=obj.content_type, headers=headers)


def head_response(obj: StoredObject) -> Response[None]:
    return Response(content=b"", status_code=200, media_type=obj.content_type,
                    headers={**object_headers(obj), "Content-Length": str(obj.size)})


def uploader(principal: Principal) -> str:
    """Who stored an object: the token's user, else the API key."""
    return principal.user_id or f"key:{principal.key_id}"


def content_disposition(name: str) -> str:
    """A download's file name, in ASCII and (RFC 6266) in UTF-8."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f'attachment; filename="{ascii_name}"; filename*=UTF-8\'\'{quote(name, safe="")}'


async def read_capped(chunks: AsyncIterable[bytes], cap: int, what: str) -> bytes:
    """A request body in memory, refused (413) as soon as it passes `cap` bytes."""
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise PayloadTooLarge(f"{what} may hold at most {cap} bytes")
        parts.append(chunk)
    return b"".join(parts)
