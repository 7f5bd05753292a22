"""Values PostgreSQL or an upstream would refuse (ids past bigint, versions past integer, NUL characters,
non-http URLs, non-finite vectors) are 4xx problem details that say what was wrong, never a 500; and the
OpenAPI document describes the JSON bodies the handlers read. Found by tests/test_api_fuzz.py's tool."""
from __future__ import annotations

import asyncpg
from litestar.testing import AsyncTestClient

from tests.test_api_kb import assert_problem, client  # noqa: F401  (client: the fixture)

HUGE = 2**70


async def test_ids_past_bigint_are_a_400(client: AsyncTestClient) -> None:  # noqa: F811
    for method, url in [("GET", f"/v1/kb/documents/{HUGE}"), ("PUT", f"/v1/kb/documents/{HUGE}"),
                        ("DELETE", f"/v1/kb/documents/{HUGE}"), ("GET", f"/v1/kb/documents?cursor={HUGE}"),
                        ("POST", f"/v1/jobs/{HUGE}/replay"), ("GET", f"/v1/odoo/events/{HUGE}"),
                        ("POST", f"/v1/odoo/events/{HUGE}/replay")]:
        r = await client.request(method, url, json={"content": "text"} if method == "PUT" else None)
        assert_problem(r, 400)
    assert_problem(await client.get("/v1/kb/documents/0"), 400)


async def test_body_numbers_past_their_column_are_a_422(client: AsyncTestClient) -> None:  # noqa: F811
    r = await client.post("/v1/search", json={"query": "credit", "filters": {"document_ids": [HUGE]}})
    assert_problem(r, 422, "document_ids")
    assert_problem(await client.post("/v1/search", json={"query": "credit", "offset": 2**40}), 422, "offset")
    assert_problem(await client.post("/v1/search", json={"query": "credit", "k": 10, "offset": 10_000}), 422,
                   "9999")
    # the pages end with the best 10,000 hits: a page that reaches past them is cut there
    assert (await client.post("/v1/search", json={"query": "credit", "k": 10, "offset": 9_995})).status_code == 200
    r = await client.post("/v1/search", json={"query": "credit", "query_embedding": [1e39] * 384})
    assert_problem(r, 422, "query_embedding")
    assert_problem(await client.post("/v1/summarize", json={"document_id": HUGE}), 422, "document_id")
    await client.put("/v1/vault/secrets/token", json={"value": "s3cret"})
    assert_problem(await client.post("/v1/vault/secrets/token/retire", json={"version": 2**40}), 422, "version")
    assert_problem(await client.post("/v1/vault/read", json={"bot_id": "b", "name": "token", "version": 2**40}),
                   422, "version")


async def test_nul_characters_are_refused_before_anything_is_written(
        client: AsyncTestClient, owner: asyncpg.Pool) -> None:  # noqa: F811
    for body in ({"content": "credit notes", "metadata": {"team\u0000": "finance"}},
                 {"content": "credit notes", "title": "Credit\u0000notes"},
                 {"content": "credit\u0000notes"}):
        assert_problem(await client.post("/v1/kb/documents", json=body), 422, "NUL")
    assert await owner.fetchval("SELECT count(*) FROM rag.documents") == 0
    # the text "\u0000" (an escaped backslash, then "u0000") is fine
    r = await client.post("/v1/kb/documents", json={"content": "write \\u0000 for NUL"})
    assert r.status_code == 201, r.text
    for url in ("/v1/kb/export?source=a%00b", "/v1/catalog/assets?cursor=x%00", "/v1/kb/documents?source=%00"):
        assert_problem(await client.get(url), 400, "NUL")


async def test_a_catalog_sync_needs_an_http_odoo_url(client: AsyncTestClient) -> None:  # noqa: F811
    odoo = {"url": "", "db": "odoo", "user": "admin", "password": "x"}
    assert_problem(await client.post("/v1/catalog/sync", json={"odoo": odoo}), 422, "odoo.url")
    assert_problem(await client.post("/v1/catalog/sync", json={"odoo": {**odoo, "url": "ftp://odoo"}}), 422)
    assert_problem(await client.post("/v1/catalog/sync", json={"odoo": {**odoo, "url": "http://o", "db": ""}}),
                   422, "odoo.db")


async def test_the_openapi_document_describes_each_json_body(client: AsyncTestClient) -> None:  # noqa: F811
    doc = (await client.get("/docs/openapi.json")).json()
    bodies = {(path, method): op.get("requestBody") for path, item in doc["paths"].items()
              for method, op in item.items() if method in ("post", "put")}
    search = bodies[("/v1/search", "post")]
    assert search["required"] and search["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SearchIn"}
    assert {"query", "k", "filters"} <= doc["components"]["schemas"]["SearchIn"]["properties"].keys()
    assert doc["components"]["schemas"]["SearchIn"]["required"] == ["query"]
    create = bodies[("/v1/kb/documents", "post")]["content"]
    assert set(create) == {"application/json", "multipart/form-data"}
    assert create["multipart/form-data"]["schema"]["required"] == ["file"]
    assert bodies[("/v1/kb/reindex", "post")]["required"] is False
    # every handler that reads a JSON body declares it; the webhooks read their senders' bodies raw
    assert {key for key, body in bodies.items() if body is None} == {
        ("/v1/odoo/webhook", "post"), ("/v1/github/webhook", "post"),  # signed raw bodies
        ("/v1/jobs/{job_id}/replay", "post"), ("/v1/odoo/events/{event_id}/replay", "post"),  # no body
        ("/v1/routes/deliveries/{delivery_id}/replay", "post"), ("/v1/kb/documents/{document_id}/retry", "post")}


async def test_hostile_bodies_are_4xx_never_500(client: AsyncTestClient) -> None:  # noqa: F811
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    json_body = {"content-type": "application/json"}
    r = await client.post("/v1/kb/documents", content='{"content": "x", "metadata": ' + deep + "}", headers=json_body)
    assert_problem(r, 422, "deeper")
    r = await client.post("/v1/search", content='{"query": "x", "filters": {"metadata": ' + deep + "}}", headers=json_body)
    assert_problem(r, 422, "deeper")
    nested_ok = '{"a":' * 40 + "1" + "}" * 40  # within the limit: stored
    r = await client.post("/v1/kb/documents", content='{"content": "x", "metadata": ' + nested_ok + "}", headers=json_body)
    assert r.status_code == 201, r.text
    assert_problem(await client.get("/v1/kb/documents", params={"metadata": deep}), 422, "deeper")
    r = await client.post("/v1/kb/documents", files={"file": ("n.md", b"# N\n\nx", "text/markdown")},
                          data={"metadata": deep})
    assert_problem(r, 422, "deeper")
    line = b'{"_id": "1", "text": "x", "metadata": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1001 + b"\n"
    assert_problem(await client.post("/v1/kb/documents", files={"file": ("c.jsonl", line, "application/jsonl")}),
                   422, "deeper")
    assert_problem(await client.post("/v1/kb/documents", json={"content": "x", "source": "s" * 5000}), 422, "source")
    assert_problem(await client.post("/v1/kb/reindex", json={"document_ids": [2**63]}), 422, "document_ids")
    for url in ("http://[::1", "http://odoo.example/\x01"):
        r = await client.post("/v1/catalog/sync", json={"odoo": {"url": url, "db": "d", "user": "u", "password": "p"}})
        assert r.status_code == 422, r.text
    assert_problem(await client.post("/v1/search", json={"query": "invoice " * 5_000}), 413, "tokens")
    r = await client.request("TRACE", "/v1/search")
    assert r.status_code == 405 and r.headers["allow"] and "POST" in r.headers["allow"]
