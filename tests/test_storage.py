"""Storage through the API, on both backends: the content-addressed folder and a real S3 protocol server (moto's
server mode, over HTTP). Uploads, ranged downloads, ETags, lists, deletes, signed URLs (clock injected), limits,
refused types, bad keys, tenancy, retention, the knowledge base's originals, exports and Odoo attachments."""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from app.odoo.handlers import Change, ChangeHandlers
from app.odoo.jsonrpc import OdooClient, OdooConnection
from app.odoo.pull import pull
from app.services import Services
from app.settings import Settings, StorageSettings
from app.storage.service import Storage
from sql.db import Database
from tests.conftest import S3_BUCKET, CountingEmbedder, bearer, issue_key, login, make_settings
from tests.odoo_server import FakeOdoo
from tests.test_api_kb import assert_problem

_prefixes = itertools.count()


def storage_settings(backend: str, s3_url: str | None) -> StorageSettings:
    if backend == "file":
        return StorageSettings(backend="file")
    return StorageSettings(backend="s3", s3_bucket=S3_BUCKET, s3_endpoint=s3_url, s3_access_key_id="test",
                           s3_secret_access_key="test", s3_prefix=f"t{next(_prefixes)}/")


@pytest.fixture(params=["file", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(db_url: str, tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    s3 = request.getfixturevalue("s3_url") if backend == "s3" else None
    return replace(make_settings(db_url, tmp_path), storage=storage_settings(backend, s3))


@pytest.fixture
async def client(db_url: str, settings: Settings, embedder: CountingEmbedder) -> AsyncIterator[AsyncTestClient]:
    app = create_app(settings, embedder=embedder, database=Database(db_url), run_worker=True)
    async with AsyncTestClient(app) as c:
        await login(c, db_url)
        yield c


@pytest.fixture
async def local(db_url: str, settings: Settings, embedder: CountingEmbedder) -> AsyncIterator[Services]:
    """Services on the same database and storage, in the test's own event loop (the app runs in another)."""
    s = await Services.start(settings, embedder=embedder, database=Database(db_url))
    try:
        yield s
    finally:
        await s.close()


def app_storage(client: AsyncTestClient) -> Storage:
    return client.app.state.services.storage


async def blobs(services: Services) -> list[str]:
    """Every blob the backend holds (committed ones; temporary files not included)."""
    return [b async for b in services.storage.blobs.stale(grace=-10)]


async def test_upload_download_ranges_etag_list_and_delete(client: AsyncTestClient, local: Services,
                                                           backend: str) -> None:
    body = bytes(range(256)) * 40  # 10,240 bytes
    r = await client.put("/v1/storage/documents/bir/2026/2550M/form.pdf", content=body,
                         headers={"content-type": "application/pdf"})
    assert r.status_code == 201, r.text
    obj = r.json()
    assert obj["size"] == len(body) and obj["sha256"] == hashlib.sha256(body).hexdigest()
    assert obj["key"] == "bir/2026/2550M/form.pdf" and obj["uploader"].startswith("key:")

    r = await client.get("/v1/storage/documents/bir/2026/2550M/form.pdf")
    assert r.status_code == 200 and r.content == body and r.headers["content-type"] == "application/pdf"
    etag = r.headers["etag"]
    assert etag == f'"{obj["sha256"]}"' and r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-disposition"].startswith('attachment; filename="form.pdf"')
    assert r.headers["x-content-type-options"] == "nosniff" and "sandbox" in r.headers["content-security-policy"]

    r = await client.get("/v1/storage/documents/bir/2026/2550M/form.pdf", headers={"range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == body[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(body)}"
    r = await client.get("/v1/storage/documents/bir/2026/2550M/form.pdf", headers={"range": "bytes=-10"})
    assert r.status_code == 206 and r.content == body[-10:]
    r = await client.get("/v1/storage/documents/bir/2026/2550M/form.pdf", headers={"range": "bytes=10000-"})
    assert r.status_code == 206 and r.content == body[10000:]
    r = await client.get("/v1/storage/documents/bir/2026/2550M/form.pdf", headers={"range": "bytes=20000-"})
    assert_problem(r, 416, "10240 bytes")
    assert r.headers["content-range"] == f"bytes */{len(body)}"
    r = await client.get("/v1/storage/documents/bir/2026/2550M/form.pdf", headers={"if-none-match": etag})
    assert r.status_code == 304 and r.content == b""

    r = await client.head("/v1/storage/documents/bir/2026/2550M/form.pdf")
    assert r.status_code == 200 and r.headers["etag"] == etag and r.headers["content-length"] == str(len(body))
    assert r.content == b""

    # Replacing: 200, a new ETag; the old bytes go once nothing refers to them.
    r = await client.put("/v1/storage/documents/bir/2026/2550M/form.pdf", content=b"%PDF-1.7 v2",
                         headers={"content-type": "application/pdf"})
    assert r.status_code == 200 and r.json()["size"] == 11
    assert (await client.get("/v1/storage/documents/bir/2026/2550M/form.pdf")).content == b"%PDF-1.7 v2"
    assert len(await blobs(local)) == 1

    for name in ("a.csv", "b.csv", "c.csv"):
        r = await client.put(f"/v1/storage/documents/reports/{name}", content=b"x,y\n1,2\n",
                             headers={"content-type": "text/csv"})
        assert r.status_code == 201
    r = await client.get("/v1/storage/documents?prefix=reports/&limit=2")
    page = r.json()
    assert [o["key"] for o in page["items"]] == ["reports/a.csv", "reports/b.csv"] and page["next_cursor"]
    r = await client.get(f"/v1/storage/documents?prefix=reports/&limit=2&cursor={page['next_cursor']}")
    assert [o["key"] for o in r.json()["items"]] == ["reports/c.csv"] and r.json()["next_cursor"] is None
    assert len(await blobs(local)) == (2 if backend == "file" else 4)  # equal bytes share a file, not an S3 blob
    r = await client.delete("/v1/storage/documents/bir/2026/2550M/form.pdf")
    assert r.status_code == 204
    assert_problem(await client.get("/v1/storage/documents/bir/2026/2550M/form.pdf"), 404, "form.pdf")
    assert_problem(await client.delete("/v1/storage/documents/bir/2026/2550M/form.pdf"), 404)


async def test_blobs_are_shared_only_on_the_file_backend(client: AsyncTestClient, local: Services,
                                                         backend: str) -> None:
    for key in ("one.txt", "two.txt"):
        await client.put(f"/v1/storage/documents/{key}", content=b"same bytes", headers={"content-type": "text/plain"})
    assert len(await blobs(local)) == (1 if backend == "file" else 2)
    await client.delete("/v1/storage/documents/one.txt")
    assert (await client.get("/v1/storage/documents/two.txt")).content == b"same bytes"
    await client.delete("/v1/storage/documents/two.txt")
    assert await blobs(local) == []


async def test_signed_urls_work_without_credentials_until_they_expire(client: AsyncTestClient) -> None:
    storage = app_storage(client)
    now = [1_900_000_000.0]
    storage.clock = lambda: now[0]
    await client.put("/v1/storage/exports/sales/2026-11.csv", content=b"month,total\n11,42\n",
                     headers={"content-type": "text/csv"})
    r = await client.post("/v1/storage/exports/sales/2026-11.csv/sign", json={"expires_in": 600})
    assert r.status_code == 200, r.text
    signed = r.json()
    assert signed["key"] == "sales/2026-11.csv" and signed["expires_at"].startswith("2030-03-17")
    url = httpx.URL(signed["url"])
    anonymous = {"authorization": ""}
    path = url.raw_path.decode()
    r = await client.get(path, headers=anonymous)
    assert r.status_code == 200 and r.content == b"month,total\n11,42\n"
    r = await client.get(path, headers={**anonymous, "range": "bytes=0-4"})
    assert r.status_code == 206 and r.content == b"month"
    tampered = path.replace("2026-11.csv", "2026-10.csv")
    assert_problem(await client.get(tampered, headers=anonymous), 403, "signature")
    longer = path.replace(f"expires={int(now[0]) + 600}", f"expires={int(now[0]) + 6000}")
    assert_problem(await client.get(longer, headers=anonymous), 403, "signature")
    now[0] += 601
    assert_problem(await client.get(path, headers=anonymous), 403, "expired")
    # Keys with spaces, '#', '?' and non-ASCII letters round-trip through the signed URL.
    odd = "reports/Q1 2026/ventas #1? año.csv"
    quoted = "reports/Q1%202026/ventas%20%231%3F%20a%C3%B1o.csv"
    assert (await client.put(f"/v1/storage/exports/{quoted}", content=b"a,b\n",
                             headers={"content-type": "text/csv"})).json()["key"] == odd
    signed = (await client.post(f"/v1/storage/exports/{quoted}/sign", json={})).json()
    assert signed["key"] == odd
    r = await client.get(httpx.URL(signed["url"]).raw_path.decode(), headers=anonymous)
    assert r.status_code == 200 and r.content == b"a,b\n"
    # Signing needs the object to exist; POST on an object path is only .../sign.
    assert_problem(await client.post("/v1/storage/exports/missing.csv/sign", json={}), 404, "missing.csv")
    assert_problem(await client.post("/v1/storage/exports/sales/2026-11.csv", json={}), 404, "/sign")
    assert_problem(await client.post("/v1/storage/exports/sales/2026-11.csv/sign", json={"expires_in": 0}), 422)


async def test_limits_types_and_bad_keys_are_4xx_and_leave_nothing(client: AsyncTestClient, local: Services,
                                                                  tmp_path: Path, backend: str) -> None:
    r = await client.put("/v1/buckets/documents", json={"max_object_bytes": 1000})
    assert r.status_code == 200 and r.json()["max_object_bytes"] == 1000
    assert_problem(await client.put("/v1/storage/documents/big.pdf", content=b"x" * 1001,
                                    headers={"content-type": "application/pdf"}), 413, "1000 bytes")

    assert_problem(await client.put("/v1/storage/exports/logo.png", content=b"\x89PNG",
                                    headers={"content-type": "image/png"}), 415, "exports", "text/csv")
    for raw in ("%2E%2E/etc/passwd", "a/%2E%2E/%2E%2E/b", "a//b", "a/%2E/b", "%2Fetc/passwd", "a%01b", "a%5Cb",
                "a/b/"):
        r = await client.put(f"/v1/storage/documents/{raw}", content=b"x", headers={"content-type": "text/plain"})
        assert_problem(r, 422, "key")
    assert (await client.get("/v1/storage/documents")).json()["items"] == []
    assert await blobs(local) == []
    if backend == "file":
        assert list((tmp_path / "storage" / "tmp").iterdir()) == []
    assert_problem(await client.put("/v1/storage/nope/a.txt", content=b"x", headers={"content-type": "text/plain"}),
                   404, "bucket")
    r = await client.get("/v1/buckets")
    assert {b["name"] for b in r.json()} == {"attachments", "documents", "exports", "kb", "public"}


async def test_tenants_see_only_their_own_objects(client: AsyncTestClient, db_url: str) -> None:
    await client.put("/v1/storage/documents/secret.txt", content=b"tenant a", headers={"content-type": "text/plain"})
    other = bearer(await issue_key(db_url, "other", ["storage:read", "storage:write"]))
    assert_problem(await client.get("/v1/storage/documents/secret.txt", headers=other), 404)
    assert (await client.head("/v1/storage/documents/secret.txt", headers=other)).status_code == 404
    assert_problem(await client.delete("/v1/storage/documents/secret.txt", headers=other), 404)
    assert_problem(await client.post("/v1/storage/documents/secret.txt/sign", json={}, headers=other), 404)
    assert (await client.get("/v1/storage/documents", headers=other)).json()["items"] == []
    # A URL signed for tenant A, with tenant B put in its path, does not verify.
    signed = (await client.post("/v1/storage/documents/secret.txt/sign", json={})).json()["url"]
    forged = httpx.URL(signed).raw_path.decode().replace("/v1/signed/default/", "/v1/signed/other/")
    assert_problem(await client.get(forged, headers={"authorization": ""}), 403)
    # Tenant B's own object of the same key is another object.
    await client.put("/v1/storage/documents/secret.txt", content=b"tenant b", headers={**other,
                                                                                        "content-type": "text/plain"})
    assert (await client.get("/v1/storage/documents/secret.txt")).content == b"tenant a"
    reader = bearer(await issue_key(db_url, "default", ["storage:read"]))
    assert_problem(await client.put("/v1/storage/documents/x.txt", content=b"x",
                                    headers={**reader, "content-type": "text/plain"}), 403, "storage:write")


async def test_the_public_bucket_needs_no_credentials(client: AsyncTestClient) -> None:
    png = {"content-type": "image/png"}
    await client.put("/v1/storage/public/brand/logo.png", content=b"\x89PNG logo", headers=png)
    await client.put("/v1/storage/documents/brand/logo.png", content=b"private", headers=png)
    r = await client.get("/v1/public/default/brand/logo.png", headers={"authorization": ""})
    assert r.status_code == 200 and r.content == b"\x89PNG logo" and "public" in r.headers["cache-control"]
    assert_problem(await client.get("/v1/public/other/brand/logo.png", headers={"authorization": ""}), 404)
    assert_problem(await client.get("/v1/storage/public/brand/logo.png", headers={"authorization": ""}), 401)


async def test_retention_and_sweep(client: AsyncTestClient, local: Services, owner: asyncpg.Pool) -> None:
    storage = local.storage
    await client.put("/v1/storage/exports/old.csv", content=b"a\n", headers={"content-type": "text/csv"})
    await client.put("/v1/storage/exports/new.csv", content=b"b\n", headers={"content-type": "text/csv"})
    await client.put("/v1/storage/documents/kept.txt", content=b"c\n", headers={"content-type": "text/plain"})
    await owner.execute("UPDATE storage.objects SET updated_at = now() - interval '400 days' "
                        "WHERE key IN ('old.csv', 'kept.txt')")
    assert await storage.expire() == 1  # exports keep 30 days by default; documents are kept
    keys = {r["key"] for r in await owner.fetch("SELECT key FROM storage.objects")}
    assert keys == {"new.csv", "kept.txt"} and len(await blobs(local)) == 2
    r = await client.put("/v1/buckets/documents", json={"retention_days": 7})
    assert r.json()["retention_days"] == 7
    assert await storage.expire() == 1
    r = await client.put("/v1/buckets/exports", json={"retention_days": 0})
    assert r.json()["retention_days"] is None
    # A blob whose row never came (a crash in between) is swept once old enough; a referenced one stays.
    staged = await storage.blobs.write(_one(b"orphan bytes"), 100)
    await storage.blobs.commit(staged)
    assert await storage.sweep(grace=3600) == 0
    assert await storage.sweep(grace=-10) == 1
    assert len(await blobs(local)) == 1


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_the_knowledge_base_keeps_originals(client: AsyncTestClient, local: Services,
                                                  owner: asyncpg.Pool) -> None:
    text = b"# Refunds\n\nRefunds are issued within 14 days of the request.\n"
    r = await client.post("/v1/kb/documents?wait=true", files={"file": ("refunds.md", text, "text/markdown")},
                          data={"source": "handbook"})
    assert r.status_code == 201, r.text
    doc = r.json()["documents"][0]
    assert doc["original"]["bucket"] == "kb" and doc["original"]["key"].endswith("/refunds.md")
    r = await client.get(f"/v1/kb/documents/{doc['id']}/original")
    assert r.status_code == 200 and r.content == text
    assert "refunds.md" in r.headers["content-disposition"]
    r = await client.get(f"/v1/kb/documents/{doc['id']}/original", headers={"range": "bytes=0-8"})
    assert r.status_code == 206 and r.content == b"# Refunds"

    # Reindex re-parses from the original: a document whose stored text went stale gets the file's text back.
    await owner.execute("UPDATE rag.documents SET content = 'stale text', content_hash = 'x' WHERE id = $1",
                        doc["id"])
    r = await client.post("/v1/kb/reindex", json={"reparse": True, "reembed": False,
                                                  "filters": {"document_ids": [doc["id"]]}})
    assert r.status_code == 202 and r.json()["reparsed"] == 1, r.text
    content = await owner.fetchval("SELECT content FROM rag.documents WHERE id = $1", doc["id"])
    assert "within 14 days" in content

    # A JSON-only document has no original; deleting a document deletes its original.
    r = await client.post("/v1/kb/documents", json={"content": "Plain text.", "external_id": "plain"})
    plain = r.json()["documents"][0]
    assert plain["original"] is None
    assert_problem(await client.get(f"/v1/kb/documents/{plain['id']}/original"), 404, "no stored original")
    assert (await client.delete(f"/v1/kb/documents/{doc['id']}")).status_code == 204
    assert (await client.get("/v1/storage/kb")).json()["items"] == []
    assert await blobs(local) == []


async def test_storing_into_documents_with_ingest(client: AsyncTestClient) -> None:
    text = b"# BIR 2550M\n\nThe monthly VAT declaration is filed by the 20th day of the following month.\n"
    r = await client.put("/v1/storage/documents/bir/2026/2550M/guide.md?ingest=true", content=text,
                         headers={"content-type": "text/markdown"})
    assert r.status_code == 201, r.text
    ids = r.json()["document_ids"]
    assert len(ids) == 1
    doc = (await client.get(f"/v1/kb/documents/{ids[0]}")).json()
    assert doc["external_id"] == "bir/2026/2550M/guide.md" and doc["source"] == "storage:documents"
    assert doc["original"]["key"] == "bir/2026/2550M/guide.md" and doc["title"] == "BIR 2550M"
    r = await client.post("/v1/search", json={"query": "monthly VAT declaration", "k": 1})
    assert r.json()["hits"][0]["document_id"] == ids[0]
    # A file no parser reads is refused and not stored.
    r = await client.put("/v1/storage/documents/broken.pdf?ingest=true", content=b"%PDF-1.7 not really",
                         headers={"content-type": "application/pdf"})
    assert r.status_code in (415, 422), r.text
    assert (await client.head("/v1/storage/documents/broken.pdf")).status_code == 404


async def test_exports_are_written_to_the_bucket_and_signed(client: AsyncTestClient) -> None:
    await client.post("/v1/kb/documents", json={"content": "# Returns\n\nReturns take 30 days.", "external_id": "r",
                                                "source": "wiki", "metadata": {"team": "ops"}})
    r = await client.post("/v1/exports", json={"what": "documents", "format": "csv", "expires_in": 120})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["object"]["key"].startswith("documents/") and out["object"]["content_type"] == "text/csv"
    download = await client.get(httpx.URL(out["url"]).raw_path.decode(), headers={"authorization": ""})
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [(row["external_id"], row["source"], json.loads(row["metadata"])) for row in rows] == [
        ("r", "wiki", {"team": "ops"})]
    r = await client.post("/v1/exports", json={"what": "drift"})
    assert r.status_code == 201 and r.json()["object"]["content_type"] == "application/x-ndjson"
    listed = (await client.get("/v1/storage/exports")).json()["items"]
    assert len(listed) == 2
    assert_problem(await client.post("/v1/exports", json={"what": "drift", "source": "wiki"}), 422, "source")


async def test_odoo_attachments_land_in_the_bucket_and_the_knowledge_base(client: AsyncTestClient, local: Services,
                                                                         owner: asyncpg.Pool) -> None:
    services = local
    tenant = services.db.tenant("default")
    instance_id = await tenant.fetchval(
        "INSERT INTO odoo.instances (name, base_url, database) VALUES ('prod', 'http://odoo', 'odoo') RETURNING id")
    handlers = ChangeHandlers(services, frozenset(), frozenset({"account.move"}))
    text = b"# Payment terms\n\nInvoice INV/2026/0007 is payable within 45 days.\n"

    def change(kind: str = "write", data: bytes = text, name: str = "terms.md", res_model: str = "account.move",
               mimetype: str = "text/markdown", write_date: str = "2026-12-01 10:00:00") -> Change:
        record = {"id": 31, "name": name, "res_model": res_model, "res_id": 7, "mimetype": mimetype,
                  "datas": base64.b64encode(data).decode(), "checksum": hashlib.sha1(data).hexdigest(),
                  "write_date": write_date}
        return Change(instance_id, "prod", "odoo", "default", kind, "ir.attachment", 31, record)

    async def apply(c: Change) -> str:
        async with tenant.acquire() as conn:
            return await handlers.apply(conn, c)

    assert await apply(change()) == "stored attachment and knowledge document"
    r = await client.get("/v1/storage/attachments/odoo/account.move/7/terms.md")
    assert r.status_code == 200 and r.content == text
    assert (await apply(change())).startswith("ignored: an equal")  # the same event again
    assert await apply(change(write_date="2026-12-01 10:30:00")) == "unchanged attachment (same checksum)"
    doc = await owner.fetchrow(
        "SELECT id, source, original_id FROM rag.documents WHERE external_id = 'ir.attachment/31'")
    assert doc["source"] == "odoo:prod" and doc["original_id"] is not None
    answer = await services.assistant.ask("Within how many days is INV/2026/0007 payable?", tenant_id="default")
    assert "45 days" in answer.answer

    assert (await apply(change(name="late.md", write_date="2026-11-30 10:00:00"))).startswith("ignored: an equal")
    assert (await apply(change(name="terms-v2.md", write_date="2026-12-01 11:00:00"))).startswith("stored")  # renamed
    keys = [o["key"] for o in (await client.get("/v1/storage/attachments")).json()["items"]]
    assert keys == ["odoo/account.move/7/terms-v2.md"]
    assert (await apply(change(res_model="res.partner", write_date="2026-12-01 12:00:00"))).startswith("ignored")
    binary = change(data=b"\x00\x01binary", name="scan.bin", mimetype="application/octet-stream",
                    write_date="2026-12-01 13:00:00")
    outcome = await apply(binary)
    assert outcome.startswith("stored attachment, not read into the knowledge base: unsupported file type '.bin'")
    assert await apply(change(kind="unlink", write_date="2026-12-01 14:00:00")) == "deleted attachment (1 stored files)"
    assert (await client.get("/v1/storage/attachments")).json()["items"] == []
    assert await owner.fetchval("SELECT count(*) FROM rag.documents WHERE external_id = 'ir.attachment/31'") == 0


async def test_odoo_attachments_arrive_by_pull_sync(client: AsyncTestClient, local: Services,
                                                   owner: asyncpg.Pool) -> None:
    tenant = local.db.tenant("default")
    instance_id = await tenant.fetchval(
        "INSERT INTO odoo.instances (name, base_url, database) VALUES ('prod', 'http://odoo', 'odoo') RETURNING id")
    instance = await tenant.fetchrow("SELECT * FROM odoo.instances WHERE id = $1", instance_id)
    fake = FakeOdoo(db="odoo").start()
    try:
        files = {1: ("policy.md", b"# Credit policy\n\nCustomers get 30 days of credit.\n", "project.task"),
                 2: ("scan.pdf", b"%PDF-1.4 unreadable", "res.partner")}
        fake.records["ir.attachment"] = [
            {"id": i, "name": name, "res_model": model, "res_id": 5, "mimetype": "text/markdown",
             "datas": base64.b64encode(data).decode(), "write_date": f"2026-12-01 10:00:0{i}"}
            for i, (name, data, model) in files.items()]
        handlers = ChangeHandlers(local, frozenset(), frozenset({"project.task"}))
        async with httpx.AsyncClient() as http:
            odoo = OdooClient(OdooConnection(fake.url, "odoo", "admin", "secret"), http)
            assert (await pull(local, handlers, odoo, instance, "ir.attachment"))["applied"] == 2
    finally:
        fake.stop()
    keys = [o["key"] for o in (await client.get("/v1/storage/attachments")).json()["items"]]
    assert keys == ["odoo/project.task/5/policy.md"]  # res.partner is not configured
    assert await owner.fetchval("SELECT title FROM rag.documents WHERE external_id = 'ir.attachment/1'") == \
        "Credit policy"
