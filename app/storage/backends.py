"""Where stored files' bytes live, behind one small interface: a content-addressed folder (the embedded
default) or an S3-compatible object store (AWS S3, MinIO, Supabase Storage, R2) through obstore.

A write is staged first (bytes complete, hashed, not yet named by any object row), then committed under its
reference; an object row is what makes bytes visible, so a crash at any point leaves only an unreferenced blob
or temporary file, which the cleanup job removes (Storage.sweep)."""
from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.settings import StorageSettings
from sql.errors import ConfigurationError, PayloadTooLarge

READ_CHUNK = 256 * 1024
TEMP_GRACE_SECONDS = 24 * 3600
"""An unreferenced blob or temporary file younger than this may belong to an upload still under way."""


@dataclass(frozen=True)
class Staged:
    """Bytes written and hashed; `ref` is where they will be read once committed."""

    ref: str
    size: int
    sha256: str
    temp: str = ""


class Blobs(Protocol):
    name: str

    async def write(self, chunks: AsyncIterable[bytes], limit: int) -> Staged:
        """Write a stream (PayloadTooLarge past `limit` bytes, with nothing left behind)."""

    async def commit(self, staged: Staged) -> None:
        """Make staged bytes readable under their ref (idempotent)."""

    async def discard(self, staged: Staged) -> None:
        """Forget staged bytes that no object will name."""

    def read(self, ref: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes [start, end) of a committed blob."""

    async def delete(self, ref: str) -> None:
        """Remove a blob (missing = done)."""

    def stale(self, grace: float = TEMP_GRACE_SECONDS) -> AsyncIterator[str]:
        """Blobs older than `grace` seconds (candidates for removal when nothing refers to them); temporary files
        that old are removed on the way."""


async def _counted(chunks: AsyncIterable[bytes], limit: int, digest: hashlib._Hash) -> AsyncIterator[bytes]:
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the object is larger than this bucket's limit of {limit} bytes")
        digest.update(chunk)
        yield chunk


class FileBlobs:
    """Blobs as files named by their SHA-256 under root/sha256/ab/cd/; equal bytes are stored once. A write
    goes to root/tmp, is fsynced, and is renamed into place on commit (atomic on one filesystem)."""

    name = "file"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, ref: str) -> Path:
        sha = ref.removeprefix("sha256/")
        if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
            raise ValueError(f"not a blob reference: {ref!r}")
        return self.root / "sha256" / sha[:2] / sha[2:4] / sha

    async def write(self, chunks: AsyncIterable[bytes], limit: int) -> Staged:
        temp = self.tmp / uuid.uuid4().hex
        digest = hashlib.sha256()
        size = 0
        try:
            with temp.open("wb") as f:
                async for chunk in _counted(chunks, limit, digest):
                    await asyncio.to_thread(f.write, chunk)
                    size += len(chunk)
                await asyncio.to_thread(os.fsync, f.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        sha = digest.hexdigest()
        return Staged(f"sha256/{sha}", size, sha, str(temp))

    async def commit(self, staged: Staged) -> None:
        final = self._path(staged.ref)
        if final.exists():  # the same bytes are stored already
            Path(staged.temp).unlink(missing_ok=True)
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.temp, final)
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself survives a crash
        finally:
            os.close(fd)

    async def discard(self, staged: Staged) -> None:
        Path(staged.temp).unlink(missing_ok=True)

    async def read(self, ref: str, start: int, end: int) -> AsyncIterator[bytes]:
        with self._path(ref).open("rb") as f:
            f.seek(start)
            left = end - start
            while left > 0:
                chunk = await asyncio.to_thread(f.read, min(READ_CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    async def delete(self, ref: str) -> None:
        self._path(ref).unlink(missing_ok=True)

    async def stale(self, grace: float = TEMP_GRACE_SECONDS) -> AsyncIterator[str]:
        cutoff = time.time() - grace
        for temp in self.tmp.iterdir():
            if temp.stat().st_mtime < cutoff:
                temp.unlink(missing_ok=True)
        for path in (self.root / "sha256").glob("*/*/*"):
            if path.stat().st_mtime < cutoff:
                yield f"sha256/{path.name}"


class S3Blobs:
    """Blobs in an S3-compatible bucket under prefix/blobs/<uuid>, written as multipart uploads (at most two
    8 MiB parts in flight, so memory stays flat whatever the size); an upload that never completes leaves no
    object (configure the bucket to abort incomplete multipart uploads after a day)."""

    name = "s3"
    PART = 8 * 1024 * 1024

    def __init__(self, settings: StorageSettings) -> None:
        from obstore.store import S3Store

        if not settings.s3_bucket:
            raise ConfigurationError("STORAGE_BACKEND=s3 needs S3_BUCKET")
        options: dict[str, object] = {"region": settings.s3_region}
        if settings.s3_endpoint:
            options["endpoint"] = settings.s3_endpoint
            options["virtual_hosted_style_request"] = False
        if settings.s3_access_key_id:
            options["access_key_id"] = settings.s3_access_key_id
            options["secret_access_key"] = settings.s3_secret_access_key or ""
        client = {"allow_http": True} if (settings.s3_endpoint or "").startswith("http://") else {}
        self.store = S3Store(settings.s3_bucket, client_options=client, **options)  # type: ignore[arg-type]
        self.prefix = settings.s3_prefix

    async def write(self, chunks: AsyncIterable[bytes], limit: int) -> Staged:
        import obstore

        ref = f"{self.prefix}blobs/{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        size = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal size
            async for chunk in _counted(chunks, limit, digest):
                size += len(chunk)
                yield chunk

        try:
            await obstore.put_async(self.store, ref, counted(), chunk_size=self.PART, max_concurrency=2)
        except Exception as exc:
            cause = exc
            while cause is not None and not isinstance(cause, PayloadTooLarge):
                cause = cause.__cause__ or cause.__context__  # obstore wraps the stream's own error
            raise cause or exc
        return Staged(ref, size, digest.hexdigest())

    async def commit(self, staged: Staged) -> None:
        return None  # a completed upload is readable under its (unique) ref already

    async def discard(self, staged: Staged) -> None:
        await self.delete(staged.ref)

    async def read(self, ref: str, start: int, end: int) -> AsyncIterator[bytes]:
        import obstore

        if end <= start:
            return
        result = await obstore.get_async(self.store, ref, options={"range": (start, end)})
        async for chunk in result.stream(min_chunk_size=READ_CHUNK):
            yield bytes(chunk)

    async def delete(self, ref: str) -> None:
        import obstore

        try:
            await obstore.delete_async(self.store, ref)
        except FileNotFoundError:
            pass

    async def stale(self, grace: float = TEMP_GRACE_SECONDS) -> AsyncIterator[str]:
        import obstore

        cutoff = time.time() - grace
        async for batch in obstore.list(self.store, prefix=f"{self.prefix}blobs/"):
            for meta in batch:
                if meta["last_modified"].timestamp() < cutoff:
                    yield meta["path"]


def make_blobs(settings: StorageSettings, data_dir: Path) -> Blobs:
    if settings.backend == "file":
        return FileBlobs(data_dir / "storage")
    if settings.backend == "s3":
        return S3Blobs(settings)
    raise ConfigurationError(f"STORAGE_BACKEND must be file or s3, not {settings.backend!r}")
