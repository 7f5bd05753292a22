"""Storage against a real `serve` process over HTTP: a 200 MiB object goes up and comes back with the server's
memory nearly flat; a server killed mid-upload leaves no visible object and no metadata row; a body without a
Content-Length is cut off at the bucket's limit with nothing left behind."""
from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.test_replicas import Processes
from tests.conftest import S3_BUCKET, bearer, issue_key

MiB = 1024 * 1024


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


async def pattern(total: int, chunk: int = MiB, pause: float = 0.0) -> AsyncIterator[bytes]:
    """`total` bytes of a repeating pattern, `chunk` at a time."""
    block = hashlib.sha256(b"ipai").digest() * (chunk // 32)
    sent = 0
    while sent < total:
        yield block[: min(chunk, total - sent)]
        sent += chunk
        if pause:
            await asyncio.sleep(pause)


def pattern_sha(total: int, chunk: int = MiB) -> str:
    block = hashlib.sha256(b"ipai").digest() * (chunk // 32)
    digest = hashlib.sha256()
    sent = 0
    while sent < total:
        digest.update(block[: min(chunk, total - sent)])
        sent += chunk
    return digest.hexdigest()


def serving(backend: str, request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[Processes]:
    p = Processes(db_url, tmp_path / "data")
    p.env["STORAGE_BACKEND"] = backend
    if backend == "s3":
        url = request.getfixturevalue("s3_url")
        p.env.update({"S3_BUCKET": S3_BUCKET, "S3_ENDPOINT": url, "S3_ACCESS_KEY_ID": "test",
                      "S3_SECRET_ACCESS_KEY": "test", "S3_PREFIX": f"live-{os.getpid()}-{id(p)}/"})
    p.env["RATE_LIMIT_PER_MINUTE"] = "6000"
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(params=["file", "s3"])
def processes(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[Processes]:
    yield from serving(request.param, request, db_url, tmp_path)


@pytest.fixture
def file_processes(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[Processes]:
    """The embedded default's backend (the S3 one streams the same way, in 8 MiB parts, two in flight)."""
    yield from serving("file", request, db_url, tmp_path)


async def test_a_200_mib_object_round_trips_in_flat_memory(file_processes: Processes, db_url: str) -> None:
    processes = file_processes
    url = await asyncio.to_thread(processes.serve)
    pid = processes.running[-1].pid
    key = bearer(await issue_key(db_url))
    size = 200 * MiB
    async with httpx.AsyncClient(base_url=url, headers=key, timeout=120) as http:
        r = await http.put("/v1/buckets/documents", json={"max_object_bytes": 256 * MiB})
        assert r.status_code == 200
        # Warm up the paths once, so the measurement sees the transfer and not first-use imports.
        await http.put("/v1/storage/documents/warm.bin", content=b"x" * MiB,
                       headers={"content-type": "application/zip"})
        await http.get("/v1/storage/documents/warm.bin")
        before = memory_kib(pid, "VmRSS")
        reset_peak(pid)
        r = await http.put("/v1/storage/documents/big/archive.zip", content=pattern(size),
                           headers={"content-type": "application/zip"})
        assert r.status_code == 201, r.text
        assert r.json()["size"] == size and r.json()["sha256"] == pattern_sha(size)
        digest, received = hashlib.sha256(), 0
        async with http.stream("GET", "/v1/storage/documents/big/archive.zip") as response:
            assert response.status_code == 200
            async for chunk in response.aiter_bytes():
                digest.update(chunk)
                received += len(chunk)
        assert received == size and digest.hexdigest() == pattern_sha(size)
        growth_mib = (memory_kib(pid, "VmHWM") - before) / 1024
    assert growth_mib < 32, f"the server's peak memory grew by {growth_mib:.1f} MiB"


async def test_a_server_killed_mid_upload_leaves_nothing_visible(processes: Processes, db_url: str,
                                                                  owner: asyncpg.Pool) -> None:
    url = await asyncio.to_thread(processes.serve)
    server = processes.running[-1]
    key = bearer(await issue_key(db_url))

    async def killer() -> None:
        await asyncio.sleep(1.0)  # a few MiB in
        os.kill(server.pid, signal.SIGKILL)

    async with httpx.AsyncClient(base_url=url, headers=key, timeout=30) as http:
        task = asyncio.create_task(killer())
        with pytest.raises(httpx.HTTPError):
            await http.put("/v1/storage/documents/half.zip", content=pattern(40 * MiB, pause=0.05),
                           headers={"content-type": "application/zip"})
        await task
    server.wait(timeout=10)
    assert await owner.fetchval("SELECT count(*) FROM storage.objects") == 0
    url = await asyncio.to_thread(processes.serve)
    async with httpx.AsyncClient(base_url=url, headers=key, timeout=30) as http:
        assert (await http.head("/v1/storage/documents/half.zip")).status_code == 404
        assert (await http.get("/v1/storage/documents")).json()["items"] == []
    if processes.env["STORAGE_BACKEND"] == "file":
        storage = Path(processes.env["IPAI_DATA_DIR"]) / "storage"
        assert len(list((storage / "tmp").iterdir())) == 1  # the partial write, never renamed into place
        assert [p for p in storage.rglob("*") if p.is_file() and "sha256" in p.parts] == []


async def test_a_body_without_length_is_cut_off_at_the_limit(processes: Processes, db_url: str) -> None:
    url = await asyncio.to_thread(processes.serve)
    key = bearer(await issue_key(db_url))
    async with httpx.AsyncClient(base_url=url, headers=key, timeout=30) as http:
        await http.put("/v1/buckets/documents", json={"max_object_bytes": 3 * MiB})
        r = await http.put("/v1/storage/documents/too-big.zip", content=pattern(8 * MiB),
                           headers={"content-type": "application/zip"})
        assert r.status_code == 413 and "3145728 bytes" in r.json()["detail"]
        assert (await http.get("/v1/storage/documents")).json()["items"] == []
        r = await http.put("/v1/storage/documents/fits.zip", content=pattern(2 * MiB),
                           headers={"content-type": "application/zip"})
        assert r.status_code == 201
    if processes.env["STORAGE_BACKEND"] == "file":
        assert list((Path(processes.env["IPAI_DATA_DIR"]) / "storage" / "tmp").iterdir()) == []
