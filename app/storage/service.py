"""Buckets of files per tenant: streamed writes and reads, listing, signed URLs, retention. The bytes go to a
backend (app.storage.backends), the metadata to storage.objects under row-level security; an object is visible
once both are complete."""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import quote

import asyncpg

from app.security.vault import Vault
from app.settings import StorageSettings
from app.storage.backends import TEMP_GRACE_SECONDS, Blobs, Staged
from sql.db import Db
from sql.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge, RangeNotSatisfiable, UnsupportedMediaType
from sql.queries import q

SIGNING_SECRET = "storage-signing-key"
"""Vault secret (per tenant) that signs URLs; every active version verifies, the newest signs."""
KEY_CACHE_SECONDS = 60.0
MAX_KEY_LENGTH = 1024
_CHAR, _NOT_DOT = r"[^/\x00-\x1f\x7f-\x9f\\]", r"[^./\x00-\x1f\x7f-\x9f\\]"
_SEGMENT = rf"(?:\.?{_NOT_DOT}{_CHAR}*|\.\.{_CHAR}+)"  # any segment but '.' and '..' (no lookahead: generators)
KEY_PATTERN = rf"^{_SEGMENT}(?:/{_SEGMENT})*$"
"""What check_key accepts, as a regular expression (stated in the API document)."""
MAX_SIGNED_SECONDS = 7 * 24 * 3600


def check_key(key: str) -> str:
    """An object key is a relative path of non-empty segments: no '.' or '..', no backslash, no control
    characters, at most 1024 characters (422 otherwise; KEY_PATTERN says the same)."""
    if not key:
        raise InvalidInput("the object key is empty; name the object, e.g. bir/2026/2550M/form.pdf")
    if key.startswith("/"):
        raise InvalidInput(f"the object key {key!r} is an absolute path; keys are relative, e.g. bir/2026/form.pdf")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"the object key is longer than {MAX_KEY_LENGTH} characters")
    bad = next((c for c in key if ord(c) < 32 or 127 <= ord(c) < 160 or c == "\\"
                or 0xD800 <= ord(c) <= 0xDFFF), None)
    if bad is not None:
        raise InvalidInput(f"the object key holds the character {bad!r} (control characters, lone surrogates and "
                           "backslashes are refused)")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidInput(f"the object key {key!r} has an empty, '.' or '..' segment (no path traversal)")
    return key


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header (parameters dropped, lower case)."""
    return (content_type or "application/octet-stream").split(";")[0].strip().lower() or "application/octet-stream"


@dataclass(frozen=True)
class Bucket:
    """A bucket's effective settings for one tenant (its own, else its kind's defaults)."""

    name: str
    description: str
    public: bool
    max_object_bytes: int
    content_types: tuple[str, ...]
    retention_days: int | None

    def accepts(self, content_type: str) -> bool:
        return any(fnmatchcase(content_type, pattern) for pattern in self.content_types)

    def check(self, content_type: str, length: int | None) -> None:
        if not self.accepts(content_type):
            raise UnsupportedMediaType(f"the bucket {self.name!r} does not take {content_type!r}; it takes "
                                       f"{', '.join(self.content_types)}")
        if length is not None and length > self.max_object_bytes:
            raise PayloadTooLarge(f"the object ({length} bytes) is larger than the bucket {self.name!r}'s limit "
                                  f"of {self.max_object_bytes} bytes")


@dataclass(frozen=True)
class StoredObject:
    id: int
    bucket: str
    key: str
    size: int
    content_type: str
    sha256: str
    blob: str
    uploader: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"'

    @classmethod
    def of(cls, row: asyncpg.Record) -> StoredObject:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range of a Range header as [start, end), None for the whole object (no header, or one this
    server serves whole: several ranges, other units). A range past the end is a 416."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    try:
        if not dash:
            return None
        if first == "":  # the last N bytes
            n = int(last)
            if n <= 0:
                raise RangeNotSatisfiable("a suffix range of 0 bytes selects nothing", size=size)
            return max(0, size - n), size
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size:
        raise RangeNotSatisfiable(f"the range starts at byte {start}; the object has {size} bytes", size=size)
    if end <= start:
        return None  # an invalid range is ignored (RFC 9110): the whole object
    return start, min(end, size)


class Storage:
    def __init__(self, db: Db, blobs: Blobs, vault: Vault, settings: StorageSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.blobs = blobs
        self.vault = vault
        self.settings = settings
        self.clock = clock
        self._signing: dict[str, tuple[float, list[bytes]]] = {}
        self._kinds: frozenset[str] | None = None

    # -- buckets -----------------------------------------------------------------------------------------------
    async def buckets(self, tenant_id: str) -> list[Bucket]:
        rows = await self.db.tenant(tenant_id).fetch(q("storage_buckets"), tenant_id, self.settings.max_object_bytes)
        return [Bucket(r["name"], r["description"], r["public"], r["max_object_bytes"], tuple(r["content_types"]),
                       r["retention_days"]) for r in rows]

    async def exists(self, name: str) -> None:
        """A 404 for a bucket name that is none of the buckets every tenant has (read once: they are fixed)."""
        if self._kinds is None:
            self._kinds = frozenset(await self.db.pool.fetchval(q("storage_bucket_kinds")))
        if name not in self._kinds:
            raise NotFound(f"there is no bucket {name!r}; the buckets are {', '.join(sorted(self._kinds))}")

    async def bucket(self, tenant_id: str, name: str) -> Bucket:
        await self.exists(name)
        return next(b for b in await self.buckets(tenant_id) if b.name == name)

    async def configure(self, tenant_id: str, name: str, *, max_object_bytes: int | None,
                        content_types: list[str] | None, retention_days: int | None) -> Bucket:
        await self.exists(name)
        await self.db.tenant(tenant_id).execute(q("storage_bucket_set"), tenant_id, name, max_object_bytes,
                                                 [media_type(t) for t in content_types] if content_types else None,
                                                 retention_days)
        return await self.bucket(tenant_id, name)

    # -- objects -----------------------------------------------------------------------------------------------
    async def put(self, tenant_id: str, bucket: str, key: str, chunks: AsyncIterable[bytes], content_type: str | None,
                  *, length: int | None = None, uploader: str | None = None, metadata: dict[str, Any] | None = None,
                  conn: asyncpg.Connection | None = None) -> tuple[StoredObject, bool]:
        """Store a stream under a key (replacing what was there); returns the object and whether it is new.
        No connection is held while the bytes arrive; `conn` (a tenant transaction) makes the row part of it."""
        key = check_key(key)
        ctype = media_type(content_type)
        policy = await self.bucket(tenant_id, bucket)
        policy.check(ctype, length)
        staged = await self.blobs.write(chunks, policy.max_object_bytes)
        try:
            async with self._transaction(tenant_id, conn) as c:
                replaced = await c.fetchval(q("storage_object_lock"), tenant_id, bucket, key)
                await c.execute(q("storage_blob_lock"), staged.ref)
                await self.blobs.commit(staged)
                row = await c.fetchrow(q("storage_object_put"), tenant_id, bucket, key, staged.size, ctype,
                                       staged.sha256, staged.ref, uploader, metadata or {})
        except BaseException:
            await self.blobs.discard(staged)
            raise
        if replaced and replaced != staged.ref:
            await self.release(replaced)
        return StoredObject.of(row), row["created"]

    async def put_bytes(self, tenant_id: str, bucket: str, key: str, data: bytes, content_type: str | None,
                        **kwargs: Any) -> tuple[StoredObject, bool]:
        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.put(tenant_id, bucket, key, one(), content_type, length=len(data), **kwargs)

    async def head(self, tenant_id: str, bucket: str, key: str) -> StoredObject:
        await self.exists(bucket)
        row = await self.db.tenant(tenant_id).fetchrow(q("storage_object"), tenant_id, bucket, check_key(key))
        if row is None:
            raise NotFound(f"there is no object {key!r} in the bucket {bucket!r}")
        return StoredObject.of(row)

    async def by_id(self, tenant_id: str, object_id: int) -> StoredObject:
        row = await self.db.tenant(tenant_id).fetchrow(q("storage_object_by_id"), object_id)
        if row is None:
            raise NotFound(f"stored object {object_id} does not exist")
        return StoredObject.of(row)

    def read(self, obj: StoredObject, span: tuple[int, int] | None = None) -> AsyncIterator[bytes]:
        start, end = span or (0, obj.size)
        return self.blobs.read(obj.blob, start, end)

    async def read_all(self, obj: StoredObject) -> bytes:
        return b"".join([chunk async for chunk in self.read(obj)])

    async def list(self, tenant_id: str, bucket: str, prefix: str, cursor: str | None,
                   limit: int) -> tuple[list[StoredObject], str | None]:
        for name, value in (("prefix", prefix), ("cursor", cursor or "")):
            if len(value) > MAX_KEY_LENGTH:
                raise InvalidInput(f"{name} is longer than a key can be ({MAX_KEY_LENGTH} characters)")
        await self.exists(bucket)
        rows = await self.db.tenant(tenant_id).fetch(q("storage_objects_page"), tenant_id, bucket, prefix,
                                                     cursor or "", limit + 1)
        items = [StoredObject.of(r) for r in rows[:limit]]
        return items, (items[-1].key if len(rows) > limit else None)

    async def delete(self, tenant_id: str, bucket: str, key: str) -> StoredObject:
        await self.exists(bucket)
        row = await self.db.tenant(tenant_id).fetchrow(q("storage_object_delete"), tenant_id, bucket, check_key(key))
        if row is None:
            raise NotFound(f"there is no object {key!r} in the bucket {bucket!r}")
        await self.release(row["blob"])
        return StoredObject.of(row)

    async def delete_ids(self, conn: asyncpg.Connection, object_ids: list[int]) -> list[str]:
        """Delete objects inside the caller's tenant transaction; returns their blobs, for `release` after it
        commits."""
        return [r["blob"] for r in await conn.fetch(q("storage_objects_delete_ids"), object_ids)]

    async def release(self, blob: str) -> bool:
        """Remove a blob no object refers to any more (another tenant's object may share its bytes); the lock
        keeps a concurrent write of the same bytes from committing in between."""
        async with self.db.pool.acquire() as conn, conn.transaction():
            await conn.execute(q("storage_blob_lock"), blob)
            if await conn.fetchval(q("storage_blob_in_use"), blob):
                return False
            await self.blobs.delete(blob)
            return True

    @contextlib.asynccontextmanager
    async def _transaction(self, tenant_id: str, conn: asyncpg.Connection | None) -> AsyncIterator[asyncpg.Connection]:
        if conn is not None:
            async with conn.transaction():
                yield conn
        else:
            async with self.db.tenant(tenant_id).acquire() as own:
                yield own

    # -- signed URLs -------------------------------------------------------------------------------------------
    async def _keys(self, tenant_id: str) -> list[bytes]:
        cached = self._signing.get(tenant_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        values = await self.vault.service_values(tenant_id, SIGNING_SECRET)
        if not values:
            await self.vault.put(tenant_id, SIGNING_SECRET, secrets.token_urlsafe(32))
            values = await self.vault.service_values(tenant_id, SIGNING_SECRET)
        keys = [v.encode() for v in values]
        self._signing[tenant_id] = (time.monotonic() + KEY_CACHE_SECONDS, keys)
        return keys

    @staticmethod
    def signed_path(tenant_id: str, bucket: str, key: str) -> str:
        return f"/v1/signed/{tenant_id}/{bucket}/{key}"

    @staticmethod
    def _mac(secret: bytes, method: str, path: str, expires: int) -> str:
        return hmac.new(secret, f"{method}\n{path}\n{expires}".encode(), hashlib.sha256).hexdigest()

    async def sign(self, tenant_id: str, bucket: str, key: str, expires_in: int, base_url: str) -> tuple[str, int]:
        """A URL that reads the object without credentials until it expires; returns it and its expiry (Unix)."""
        obj = await self.head(tenant_id, bucket, key)
        if not 1 <= expires_in <= MAX_SIGNED_SECONDS:
            raise InvalidInput(f"expires_in must be between 1 and {MAX_SIGNED_SECONDS} seconds")
        expires = int(self.clock()) + expires_in
        path = self.signed_path(tenant_id, bucket, obj.key)
        signature = self._mac((await self._keys(tenant_id))[0], "GET", path, expires)
        base = self.settings.public_url or base_url.rstrip("/")
        return f"{base}{quote(path)}?expires={expires}&signature={signature}", expires

    async def verify(self, tenant_id: str, bucket: str, key: str, expires: int, signature: str) -> StoredObject:
        path = self.signed_path(tenant_id, bucket, key)
        if not any(hmac.compare_digest(self._mac(k, "GET", path, expires), signature)
                   for k in await self._keys(tenant_id)):
            raise Forbidden("the URL's signature does not match (altered, or signed with a retired key)")
        if self.clock() > expires:
            raise Forbidden(f"the signed URL expired at {datetime.fromtimestamp(expires).isoformat()} (Unix {expires})")
        return await self.head(tenant_id, bucket, key)

    # -- upkeep ------------------------------------------------------------------------------------------------
    async def expire(self, batch: int = 1000) -> int:
        """Delete objects past their bucket's retention, in every tenant; returns how many."""
        total = 0
        while True:
            rows = await self.db.pool.fetch(q("storage_expire"), batch)
            for blob in {r["blob"] for r in rows}:
                await self.release(blob)
            total += len(rows)
            if len(rows) < batch:
                return total

    async def sweep(self, grace: float = TEMP_GRACE_SECONDS) -> int:
        """Remove blobs and temporary files older than `grace` that no object refers to (a crash between the
        bytes and the row leaves them); returns how many blobs were removed."""
        removed = 0
        async for blob in self.blobs.stale(grace):
            removed += await self.release(blob)
        return removed


__all__ = ["Bucket", "Staged", "Storage", "StoredObject", "check_key", "media_type", "parse_range"]
