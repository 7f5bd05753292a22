"""A document's lifecycle: files uploaded with ?async=true are kept, queued and parsed by the worker (queued ->
parsing -> embedding -> ready, or failed with the parser's reason), listed by status, retried, and announced on
the documents channel; identity (409 / replace) holds for them too; other tenants see none of it."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from app.kb.lifecycle import EMBED_JOB, job_failed
from app.services import Services
from sql.db import Database
from sql.queue import Job
from tests.conftest import CountingEmbedder, bearer, issue_key, login, make_settings
from tests.live_server import LiveServer
from tests.test_api_kb import assert_problem
from tests.test_realtime import read_events

GUIDE = b"# Refund guide\n\nRefunds are issued within 14 days.\n\n## Partial refunds\n\nA partial refund is a credit note.\n"


@pytest.fixture
async def client(db_url: str, tmp_path: Path, embedder: CountingEmbedder) -> AsyncIterator[AsyncTestClient]:
    app = create_app(make_settings(db_url, tmp_path), embedder=embedder, database=Database(db_url), run_worker=True)
    async with AsyncTestClient(app) as c:
        await login(c, db_url)
        yield c


async def settled(client: AsyncTestClient, document_id: int, timeout: float = 20) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        doc = (await client.get(f"/v1/kb/documents/{document_id}")).json()
        if doc["status"] in ("ready", "failed") or asyncio.get_running_loop().time() > deadline:
            return doc
        await asyncio.sleep(0.05)


async def upload(client: AsyncTestClient, name: str, data: bytes, media: str, query: str = "async=true",
                 **fields: str):  # type: ignore[no-untyped-def]
    return await client.post(f"/v1/kb/documents?{query}", files={"file": (name, data, media)}, data=fields)


async def test_an_async_upload_is_queued_parsed_embedded_and_ready(client: AsyncTestClient) -> None:
    r = await upload(client, "refunds.md", GUIDE, "text/markdown", source="handbook")
    assert r.status_code == 202, r.text
    doc = r.json()["documents"][0]
    assert doc["status"] in ("queued", "parsing", "embedding", "ready") and doc["external_id"] == "refunds.md"
    assert doc["title"] == "refunds" and doc["original"]["key"].endswith("/refunds.md")
    done = await settled(client, doc["id"])
    assert done["status"] == "ready" and done["status_reason"] is None, done
    assert done["title"] == "Refund guide" and done["version"] == 1  # the parse filled the placeholder
    assert done["chunk_count"] == done["embedded_chunks"] == 2
    hits = (await client.post("/v1/search", json={"query": "partial refund credit note"})).json()["hits"]
    assert hits[0]["document_id"] == doc["id"]
    # The same file name again is a 409 with the document; replace=true queues it again.
    r = await upload(client, "refunds.md", GUIDE + b"\nNew line.\n", "text/markdown", source="handbook")
    assert_problem(r, 409, "refunds.md", "replace=true")
    assert r.json()["document"]["id"] == doc["id"]
    r = await upload(client, "refunds.md", GUIDE + b"\nNew line.\n", "text/markdown", "async=true&replace=true&wait=true",
                     source="handbook")
    assert r.status_code == 202 and r.json()["documents"][0]["status"] == "ready", r.text
    again = await settled(client, doc["id"])
    assert again["id"] == doc["id"] and again["version"] == 2


async def test_a_broken_file_fails_with_its_reason_and_can_be_retried(client: AsyncTestClient) -> None:
    r = await upload(client, "scan.pdf", b"%PDF-1.7\nthis is not a PDF body", "application/pdf")
    assert r.status_code == 202, r.text
    failed = await settled(client, r.json()["documents"][0]["id"])
    assert failed["status"] == "failed" and "PDF" in failed["status_reason"], failed
    good = await upload(client, "ok.md", GUIDE, "text/markdown")
    await settled(client, good.json()["documents"][0]["id"])
    listed = (await client.get("/v1/kb/documents?status=failed")).json()["items"]
    assert [d["id"] for d in listed] == [failed["id"]]
    ready = (await client.get("/v1/kb/documents?status=ready")).json()["items"]
    assert [d["external_id"] for d in ready] == ["ok.md"]
    assert_problem(await client.get("/v1/kb/documents?status=lost"), 422, "status")

    r = await client.post(f"/v1/kb/documents/{failed['id']}/retry")
    assert r.status_code == 202 and r.json()["status"] in ("queued", "parsing", "failed")
    again = await settled(client, failed["id"])
    assert again["status"] == "failed" and again["status_reason"] == failed["status_reason"]
    assert_problem(await client.post(f"/v1/kb/documents/{good.json()['documents'][0]['id']}/retry"), 409, "ready")
    assert_problem(await client.post("/v1/kb/documents/999999/retry"), 404)


async def test_a_dead_embedding_job_fails_the_document_and_retry_embeds_it(client: AsyncTestClient,
                                                                         db_url: str, tmp_path: Path,
                                                                         embedder: CountingEmbedder) -> None:
    r = await client.post("/v1/kb/documents?wait=true", json={"content": "# Notes\n\nSome text.", "external_id": "n"})
    doc = r.json()["documents"][0]
    services = await Services.start(make_settings(db_url, tmp_path), embedder=embedder, database=Database(db_url))
    try:
        job = Job(1, "default", "embed", EMBED_JOB, {"document_id": doc["id"], "model": "hash"}, 5, 5)
        await job_failed(services, job, "dead", "UpstreamError: the model server answered 503")
    finally:
        await services.close()
    failed = (await client.get(f"/v1/kb/documents/{doc['id']}")).json()
    assert failed["status"] == "failed" and failed["status_reason"].startswith("embedding failed: UpstreamError")
    r = await client.post(f"/v1/kb/documents/{doc['id']}/retry")
    assert r.status_code == 202 and r.json()["status"] in ("embedding", "ready")
    assert (await settled(client, doc["id"]))["status"] == "ready"


async def test_statuses_and_retries_are_per_tenant(client: AsyncTestClient, db_url: str) -> None:
    r = await upload(client, "scan.pdf", b"%PDF-1.7 broken", "application/pdf")
    failed = await settled(client, r.json()["documents"][0]["id"])
    other = bearer(await issue_key(db_url, "other", ["kb:read", "kb:write"]))
    assert (await client.get("/v1/kb/documents?status=failed", headers=other)).json()["items"] == []
    assert_problem(await client.post(f"/v1/kb/documents/{failed['id']}/retry", headers=other), 404)
    assert_problem(await client.get(f"/v1/kb/documents/{failed['id']}/original", headers=other), 404)


async def test_status_changes_stream_on_the_documents_channel(db_url: str, tmp_path: Path,
                                                              embedder: CountingEmbedder, owner: asyncpg.Pool) -> None:
    app = create_app(make_settings(db_url, tmp_path), embedder=embedder, database=Database(db_url), run_worker=True)
    with LiveServer(app) as server:
        writer = bearer(await issue_key(db_url, scopes=["kb:read", "kb:write"]))
        stranger = bearer(await issue_key(db_url, "other", ["kb:read", "kb:write"]))
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            async with http.stream("GET", "/v1/kb/events", headers=writer) as stream:
                lines = stream.aiter_lines()
                assert (await anext(lines)).startswith(":")  # the stream is open
                await http.post("/v1/kb/documents?async=true", headers=stranger,
                                files={"file": ("theirs.md", b"# Theirs\n\nNot yours.", "text/markdown")})
                r = await http.post("/v1/kb/documents?async=true", headers=writer,
                                    files={"file": ("mine.md", GUIDE, "text/markdown")})
                doc_id = r.json()["documents"][0]["id"]
                events = []
                async with asyncio.timeout(20):
                    while not events or events[-1][2]["status"] != "ready":
                        events += await read_events(lines, 1)
        statuses = [data["status"] for _, event, data in events]
        assert all(event == "documents" for _, event, _ in events)
        assert {data["document_id"] for _, _, data in events} == {doc_id}  # the other tenant's never show
        assert statuses[0] == "queued" and "parsing" in statuses and statuses[-1] == "ready"
        assert statuses.index("parsing") < statuses.index("ready")
        last = events[-1][2]
        assert last["title"] == "Refund guide" and last["chunk_count"] == last["embedded_chunks"] == 2
        assert json.dumps(last)  # plain JSON
