"""The asset catalog: FQDNs, upserts, fuzzy lookup, lineage, sync (self, fake Odoo, KB), assistant citations."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from app.catalog.fqdn import parse_fqdn, segment
from sql.db import Database
from sql.errors import InvalidInput
from tests.conftest import CountingEmbedder, login, make_settings
from tests.odoo_server import FakeOdoo


def test_fqdn_parsing() -> None:
    f = parse_fqdn("odoo.odoo_core.account.move")
    assert (f.system, f.db, f.model) == ("odoo", "odoo_core", "account.move")
    assert parse_fqdn("scout.gold.v_revenue_summary").model == "v_revenue_summary"
    assert parse_fqdn("odoo.odoo_core.account.move.line").model == "account.move.line"
    for bad, part in [("odoo.account", "2 part"), ("Odoo.core.x", "system 'Odoo'"), ("odoo.Core.x", "db 'Core'"),
                      ("odoo.core.account..move", "invalid segment ''"), ("odoo.core.acc-ount", "'acc-ount'"),
                      ("", "empty"), ("1odoo.core.x", "system '1odoo'")]:
        with pytest.raises(InvalidInput, match=part) as info:
            parse_fqdn(bad)
        assert "odoo.odoo_core.account.move" in info.value.detail
    assert segment("Odoo-Prod 2") == "odoo_prod_2" and segment("2024db") == "x_2024db"


@pytest.fixture
async def client(db_url: str, tmp_path: Path, embedder: CountingEmbedder) -> AsyncIterator[AsyncTestClient]:
    app = create_app(make_settings(db_url, tmp_path), embedder=embedder, database=Database(db_url))
    async with AsyncTestClient(app) as c:
        await login(c, db_url)
        yield c


@pytest.fixture
def odoo() -> Iterator[FakeOdoo]:
    server = FakeOdoo()
    server.records = {
        "ir.module.module": [
            {"id": 1, "name": "account", "shortdesc": "Invoicing", "latest_version": "17.0.1.2", "state": "installed"},
            {"id": 2, "name": "project", "shortdesc": "Project", "latest_version": "17.0.1.3", "state": "installed"},
            {"id": 3, "name": "website", "shortdesc": "Website", "latest_version": "17.0.1.0", "state": "uninstalled"},
        ],
        "ir.model": [
            {"id": i, "model": m, "name": n, "modules": mods, "transient": False}
            for i, (m, n, mods) in enumerate([
                ("account.move", "Journal Entry", "account"), ("account.move.line", "Journal Item", "account"),
                ("project.project", "Project", "project"), ("project.task", "Task", "project"),
                ("res.partner", "Contact", "base"),
            ], 1)
        ],
    }
    server.start()
    yield server
    server.stop()


async def test_upsert_is_idempotent_and_errors_are_422(client: AsyncTestClient) -> None:
    body = {"type": "odoo_model", "metadata": {"description": "Journal Entry"}, "owner": "finance", "tags": ["gl"]}
    first = await client.put("/v1/catalog/assets/odoo.odoo_core.account.move", json=body)
    assert first.status_code == 201, first.text
    again = await client.put("/v1/catalog/assets/odoo.odoo_core.account.move", json=body)
    assert again.status_code == 200 and again.json()["updated_at"] == first.json()["updated_at"]
    changed = await client.put("/v1/catalog/assets/odoo.odoo_core.account.move", json={**body, "owner": "ops"})
    assert changed.json()["owner"] == "ops" and changed.json()["updated_at"] != first.json()["updated_at"]
    got = (await client.get("/v1/catalog/assets/odoo.odoo_core.account.move")).json()
    assert (got["system"], got["db"], got["model"]) == ("odoo", "odoo_core", "account.move")
    r = await client.put("/v1/catalog/assets/Odoo.core.x", json=body)
    assert r.status_code == 422 and "system 'Odoo'" in r.json()["detail"]
    assert (await client.put("/v1/catalog/assets/odoo.core.x", json={"type": " "})).status_code == 422
    assert (await client.get("/v1/catalog/assets/odoo.core.nothing")).status_code == 404
    assert (await client.delete("/v1/catalog/assets/odoo.odoo_core.account.move")).status_code == 204
    assert (await client.get("/v1/catalog/assets/odoo.odoo_core.account.move")).status_code == 404


async def test_fuzzy_lookup_ranks_misspellings(client: AsyncTestClient) -> None:
    for fqdn, kind in [("odoo.odoo_core.account.move", "odoo_model"), ("odoo.odoo_core.account.move.line", "odoo_model"),
                       ("odoo.odoo_core.account.payment", "odoo_model"), ("odoo.odoo_core.sale.order", "odoo_model"),
                       ("odoo.odoo_core.res.partner", "odoo_model"), ("scout.gold.v_revenue_summary", "analytics_view"),
                       ("scout.gold.v_customer_churn", "analytics_view")]:
        assert (await client.put(f"/v1/catalog/assets/{fqdn}", json={"type": kind})).status_code == 201
    for query, expected in [("acount move", "odoo.odoo_core.account.move"),
                            ("account.move.lines", "odoo.odoo_core.account.move.line"),
                            ("revenue sumary", "scout.gold.v_revenue_summary"),
                            ("partnr", "odoo.odoo_core.res.partner"), ("sale ordr", "odoo.odoo_core.sale.order")]:
        items = (await client.get("/v1/catalog/assets", params={"q": query})).json()["items"]
        assert items and items[0]["fqdn"] == expected, (query, [i["fqdn"] for i in items])
    only_views = (await client.get("/v1/catalog/assets", params={"q": "revenue", "type": "analytics_view"})).json()
    assert {i["fqdn"] for i in only_views["items"]} <= {"scout.gold.v_revenue_summary", "scout.gold.v_customer_churn"}
    page1 = (await client.get("/v1/catalog/assets", params={"system": "odoo", "limit": 3})).json()
    page2 = (await client.get("/v1/catalog/assets", params={"system": "odoo", "limit": 3,
                                                           "cursor": page1["next_cursor"]})).json()
    names = [i["fqdn"] for i in page1["items"] + page2["items"]]
    assert len(names) == 5 and names == sorted(names) and page2["next_cursor"] is None


async def test_lineage_depth_and_cycles(client: AsyncTestClient) -> None:
    for name in ("a", "b", "c", "d"):
        await client.put(f"/v1/catalog/assets/scout.gold.{name}", json={"type": "view"})
    for f, t in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]:
        r = await client.post("/v1/catalog/lineage", json={"from_fqdn": f"scout.gold.{f}", "to_fqdn": f"scout.gold.{t}"})
        assert r.status_code == 201
    one = (await client.get("/v1/catalog/lineage/scout.gold.a", params={"depth": 1})).json()["edges"]
    assert [(e["from_fqdn"][-1], e["to_fqdn"][-1], e["depth"]) for e in one] == [("a", "b", 1)]
    deep = (await client.get("/v1/catalog/lineage/scout.gold.a", params={"depth": 10})).json()["edges"]
    assert sorted((e["from_fqdn"][-1], e["to_fqdn"][-1]) for e in deep) == [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
    up = (await client.get("/v1/catalog/lineage/scout.gold.d", params={"direction": "up", "depth": 2})).json()["edges"]
    assert sorted((e["from_fqdn"][-1], e["to_fqdn"][-1], e["depth"]) for e in up) == [("b", "c", 2), ("c", "d", 1)]
    assert (await client.get("/v1/catalog/lineage/scout.gold.a", params={"direction": "sideways"})).status_code == 422
    assert (await client.get("/v1/catalog/lineage/scout.gold.a", params={"depth": 0})).status_code == 422
    r = await client.post("/v1/catalog/lineage", json={"from_fqdn": "scout.gold.a", "to_fqdn": "scout.gold.zz"})
    assert r.status_code == 404


async def test_sync_registers_own_schema_odoo_and_kb_and_retires(client: AsyncTestClient, odoo: FakeOdoo) -> None:
    await client.post("/v1/kb/documents", json={"external_id": "x", "content": "hello", "source": "wiki"})
    creds = {"url": odoo.url, "db": "odoo_core", "user": "admin", "password": "secret"}
    # only an instance the tenant registered is called: an unknown URL is refused before any request
    r = await client.post("/v1/catalog/sync", json={"odoo": {**creds, "url": "http://127.0.0.1:9/"}})
    assert r.status_code == 403 and "register it first" in r.json()["detail"]
    r = await client.post("/v1/catalog/sync", json={"odoo": creds})
    assert r.status_code == 403, "not registered yet"
    r = await client.post("/v1/odoo/instances", json={"name": "core", "base_url": odoo.url, "database": "odoo_core",
                                                      "secrets": ["s" * 24]})
    assert r.status_code == 201, r.text
    r = await client.post("/v1/catalog/sync", json={"odoo": creds})
    assert r.status_code == 200, r.text
    report = r.json()["scopes"]
    assert report["odoo:odoo_core"]["inserted"] == 7  # 2 installed modules + 5 models
    assert report["self"]["inserted"] > 10 and report["kb"]["inserted"] == 1
    db = (await client.get("/v1/catalog/assets", params={"system": "ipai", "limit": 200})).json()["items"]
    by_name = {a["model"]: a for a in db}
    assert by_name["rag.documents"]["type"] == "table"
    assert any(c["name"] == "external_id" for c in by_name["rag.documents"]["metadata"]["columns"])
    assert by_name["rag.hybrid_search"]["type"] == "function"
    assert "kb.wiki" not in by_name and (await client.get("/v1/catalog/assets/ipai.kb.wiki")).status_code == 200
    move = (await client.get("/v1/catalog/assets/odoo.odoo_core.account.move")).json()
    assert move["metadata"]["description"] == "Journal Entry" and move["type"] == "odoo_model"
    assert (await client.get("/v1/catalog/assets/odoo.odoo_core.modules.website")).status_code == 404
    down = (await client.get("/v1/catalog/lineage/odoo.odoo_core.modules.account")).json()["edges"]
    assert {e["to_fqdn"] for e in down} == {"odoo.odoo_core.account.move", "odoo.odoo_core.account.move.line"}

    again = (await client.post("/v1/catalog/sync", json={"odoo": creds})).json()["scopes"]
    assert again["odoo:odoo_core"] == {"inserted": 0, "updated": 0, "unchanged": 7, "retired": 0, "edges": 4}
    assert again["self"]["inserted"] == again["self"]["updated"] == 0

    odoo.records["ir.model"] = [m for m in odoo.records["ir.model"] if m["model"] != "project.task"]
    third = (await client.post("/v1/catalog/sync", json={"odoo": creds})).json()["scopes"]
    assert third["odoo:odoo_core"]["retired"] == 1
    task = (await client.get("/v1/catalog/assets/odoo.odoo_core.project.task")).json()
    assert task["status"] == "retired", "a vanished asset is retired, not deleted"
    bad = await client.post("/v1/catalog/sync", json={"odoo": {**creds, "password": "wrong"}})
    assert bad.status_code == 503 and "refused the login" in bad.json()["detail"]


async def test_the_assistant_cites_the_catalog(client: AsyncTestClient) -> None:
    await client.put("/v1/catalog/assets/odoo.odoo_core.account.move", json={
        "type": "odoo_model", "metadata": {"description": "Customer invoices, vendor bills and journal entries"}})
    r = await client.post("/v1/ask", json={"question": "Where do customer invoices live?"})
    body = r.json()
    assert body["grounded"], body
    assert body["citations"][0]["source"] == "catalog" and body["citations"][0]["title"] == "odoo.odoo_core.account.move"
    assert "odoo.odoo_core.account.move" in body["answer"]
