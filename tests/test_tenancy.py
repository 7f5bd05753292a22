"""Tenant isolation: splinter-style lints of the schema, RLS at the database, and a cross-tenant matrix
over every endpoint (tenant A's credentials with tenant B's ids); secrets never reach logs or errors."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from app.odoo.secrets import OUTBOUND_SECRET, webhook_secret
from app.system.logs import JsonFormatter, RequestIdFilter
from sql.db import Database, bind_tenant, create_pool
from app.odoo.signatures import sign
from app.services import MODEL_KEY_SECRET, Services
from app.settings import OpenAISettings
from tests.conftest import CountingEmbedder, bearer, issue_key, make_settings
from tests.openai_server import FakeOpenAI

SCHEMAS = ["rag", "catalog", "odoo", "odoo_seed", "control_plane"]
SHARED = {"rag.embedding_models"}  # the model registry: no tenant data, read-only for the service
OWNER_ONLY = {"rag.lexical_index_deferrals"}  # bookkeeping the service role reaches through owner functions only
CANARY = "zebracanary"
SENTINEL = "sk-SENTINEL-4d2c9e71b0aa"


# Lints, in the spirit of Supabase's splinter: each is one SQL query that must return no rows.

LINTS = {
    "tenant table without RLS enabled and forced": """
        SELECT n.nspname || '.' || c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p')
           AND EXISTS (SELECT 1 FROM pg_attribute AS a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')
           AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
           AND n.nspname || '.' || c.relname <> ALL($2)""",
    "table the service can reach with no policy": """
        SELECT n.nspname || '.' || c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY($1) AND c.relkind = 'r' AND c.relrowsecurity
           AND NOT EXISTS (SELECT 1 FROM pg_policies AS p WHERE p.schemaname = n.nspname AND p.tablename = c.relname)""",
    "write policy that lets every row through": """
        SELECT schemaname || '.' || tablename || '.' || policyname FROM pg_policies
         WHERE schemaname = ANY($1) AND cmd IN ('ALL', 'INSERT', 'UPDATE', 'DELETE')
           AND (qual = 'true' OR with_check = 'true' OR (cmd <> 'DELETE' AND with_check IS NULL AND qual IS NULL))""",
    "SECURITY DEFINER function without a fixed search_path": """
        SELECT p.oid::regprocedure::text FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
         WHERE n.nspname = ANY($1) AND p.prosecdef
           AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) AS c WHERE c LIKE 'search_path=%')""",
    "SECURITY DEFINER function anyone may call": """
        SELECT p.oid::regprocedure::text FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
         WHERE n.nspname = ANY($1) AND p.prosecdef AND has_function_privilege('public', p.oid, 'EXECUTE')""",
    "view that bypasses the caller's policies": """
        SELECT n.nspname || '.' || c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY($1) AND c.relkind = 'v'
           AND NOT coalesce('security_invoker=true' = ANY(c.reloptions), false)""",
    "service role with dangerous attributes": """
        SELECT rolname FROM pg_roles WHERE rolname = 'ipai_app'
           AND (rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb OR rolreplication)""",
    "object owned by the service role": """
        SELECT c.oid::regclass::text FROM pg_class AS c WHERE c.relowner = 'ipai_app'::regrole
        UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc AS p WHERE p.proowner = 'ipai_app'::regrole
        UNION ALL SELECT nspname FROM pg_namespace WHERE nspowner = 'ipai_app'::regrole""",
    "schema the service role may create objects in": """
        SELECT nspname FROM pg_namespace WHERE has_schema_privilege('ipai_app', oid, 'CREATE')""",
    "owner-only table the service role can reach": f"""
        SELECT t FROM unnest(ARRAY{sorted(OWNER_ONLY)!r}::text[]) AS t
         WHERE has_table_privilege('ipai_app', t, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')""",
    "append-only table the service may change": """
        SELECT t FROM unnest(ARRAY['control_plane.audit_log', 'odoo.event_log']) AS t
         WHERE has_table_privilege('ipai_app', t, 'UPDATE') OR has_table_privilege('ipai_app', t, 'DELETE')""",
}


async def test_schema_lints(services: Services, owner: asyncpg.Pool) -> None:
    for name, sql in LINTS.items():
        args = [SCHEMAS, sorted(SHARED | OWNER_ONLY)][:sum(f"${i}" in sql for i in (1, 2))]
        found = [r[0] for r in await owner.fetch(sql, *args)]
        assert found == [], f"{name}: {found}"
    # The lints can fail: a table without forced RLS is reported.
    await owner.execute("ALTER TABLE rag.chat_sessions NO FORCE ROW LEVEL SECURITY")
    assert [r[0] for r in await owner.fetch(LINTS["tenant table without RLS enabled and forced"],
                                            SCHEMAS, sorted(SHARED | OWNER_ONLY))] == ["rag.chat_sessions"]
    await owner.execute("GRANT SELECT ON rag.lexical_index_deferrals TO ipai_app")
    assert [r[0] for r in await owner.fetch(LINTS["owner-only table the service role can reach"])] \
        == ["rag.lexical_index_deferrals"]
    assert await services.db.pool.fetchval("SELECT current_user") == "ipai_app"


async def test_rls_at_the_database(services: Services) -> None:
    from ingest.loaders import LoadedDocument
    from ingest.pipeline import IngestOptions

    await services.pipeline.ingest([LoadedDocument("b1", "B", f"tenant b {CANARY}")], IngestOptions(tenant_id="b"))
    await services.pipeline.ingest([LoadedDocument("a1", "A", "tenant a text")], IngestOptions(tenant_id="a"))
    a, b = services.db.tenant("a"), services.db.tenant("b")
    assert await a.fetchval("SELECT count(*) FROM rag.documents") == 1
    assert await a.fetchval("SELECT count(*) FROM rag.chunks WHERE content LIKE '%' || $1 || '%'", CANARY) == 0
    assert await b.fetchval("SELECT count(*) FROM rag.chunks WHERE content LIKE '%' || $1 || '%'", CANARY) == 1
    assert await services.db.pool.fetchval("SELECT count(*) FROM rag.documents") == 0, "no tenant: nothing"
    assert await a.execute("UPDATE rag.documents SET title = 'x' WHERE tenant_id = 'b'") == "UPDATE 0"
    assert await a.execute("DELETE FROM rag.chunks") == "DELETE 1", "only its own chunk"
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        await a.execute("INSERT INTO rag.documents (tenant_id, external_id, title, source, content, content_hash) "
                        "VALUES ('b', 'x', 'x', 'api', 'x', 'x')")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        await a.execute("UPDATE rag.documents SET tenant_id = 'b'")
    # Search runs with the owner's rights (see 0009), so it refuses any tenant but the transaction's.
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="search of tenant b in a transaction of tenant a"):
        await a.fetch("SELECT * FROM rag.hybrid_search(NULL, 'tenant b', 0, 10, 'b', NULL, 0, 1)")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await a.fetch("SELECT * FROM rag.hybrid_search_v2(NULL, 'tenant b', 0, 10, 'b', NULL, 0, 1)")
    assert len(await b.fetch("SELECT * FROM rag.hybrid_search(NULL, 'tenant b', 0, 10, 'b', NULL, 0, 1)")) == 1
    # Outside a tenant's transaction (one statement, one round trip) it searches the tenant it is given, only.
    unbound = "SELECT content FROM rag.hybrid_search(NULL, 'tenant', 0, 10, $1, NULL, 0, 1)"
    async with a.unbound() as conn:
        assert [r[0] for r in await conn.fetch(unbound, "b")] == [f"tenant b {CANARY}"]
        assert await conn.fetch(unbound, "a") == [], "tenant a's one chunk was deleted above; b's is not seen"
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="search of tenant \\(none\\)"):
            await conn.fetch(unbound, None)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="lookup of tenant b in a transaction of tenant a"):
        await a.fetch("SELECT * FROM catalog.fuzzy_names_v1('x', 'b', 0.5, 10)")
    for odd in ("o'brien", "back\\slash", "x'; SELECT 1; --"):  # quoted as a literal, or bound as a parameter
        assert await services.db.tenant(odd).fetchval("SELECT current_setting('app.tenant_id')") == odd
    # The tenant is per transaction: the same connection carries nothing into its next use.
    async with services.db.pool.acquire() as conn:
        async with bind_tenant(conn, "a"):
            assert await conn.fetchval("SELECT count(*) FROM rag.documents") == 1
        assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") in ("", None)
        assert await conn.fetchval("SELECT count(*) FROM rag.documents") == 0


async def test_a_released_connection_carries_no_tenant_to_the_next_user(db_url: str) -> None:
    """The pool skips asyncpg's reset query: what a use leaves behind must already be gone, a transaction left
    open included."""
    pool = await create_pool(db_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            pid = conn.get_server_pid()
            async with bind_tenant(conn, "a"):
                pass
            await conn.execute("BEGIN")
            await conn.execute("SELECT set_config('app.tenant_id', 'b', true)")  # left open by a failed handler
        async with pool.acquire() as conn:
            assert conn.get_server_pid() == pid, "the same connection"
            assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") in ("", None)
            assert not conn.is_in_transaction()
    finally:
        await pool.close()


# The matrix.

@pytest.fixture
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[AsyncTestClient]:
    app = create_app(make_settings(db_url, tmp_path), embedder=CountingEmbedder(), database=Database(db_url),
                     run_worker=True)
    async with AsyncTestClient(app) as client:
        yield client


async def _tenant_b(api: AsyncTestClient, db_url: str, owner: asyncpg.Pool) -> dict[str, object]:
    """Tenant B's data, created through the API: a canary document, a chat, an asset, an instance, an event."""
    b = bearer(await issue_key(db_url, "b"))
    doc = (await api.post("/v1/kb/documents?wait=true", headers=b, json={
        "external_id": "secret-plan", "title": "Secret plan", "content": f"The {CANARY} launch code is 4242.",
    })).json()["documents"][0]
    chat = (await api.post("/v1/chat", headers=b, json={"message": f"What is the {CANARY} launch code?"})).json()
    assert CANARY in chat["reply"]["answer"], "tenant B itself sees its canary"
    assert (await api.put("/v1/catalog/assets/odoo.b_db.secret_model", headers=b, json={"type": "table"})).status_code == 201
    r = await api.post("/v1/odoo/instances", headers=b, json={"name": "b-erp", "base_url": "http://odoo",
                                                               "database": "b", "secrets": ["b" * 24]})
    assert r.status_code == 201, r.text
    body = json.dumps({"event_type": "write", "aggregate_type": "project.project", "aggregate_id": 1,
                       "payload": {"id": 1, "name": CANARY, "write_date": "2026-01-01 00:00:00"}}).encode()
    ts = int(time.time())
    event = await api.post("/v1/odoo/webhook", content=body, headers={
        "x-ipai-instance": "b-erp", "x-ipai-tenant": "b", "x-ipai-timestamp": str(ts), "x-ipai-signature": sign("b" * 24, ts, body)})
    assert event.status_code == 202, event.text
    await api.post("/v1/memory", headers=b, json={"text": f"My {CANARY} locker is 7", "user_id": "u1"})
    job = await owner.fetchval("INSERT INTO rag.jobs (tenant_id, queue, kind, status) "
                               "VALUES ('b', 'embed', 'embed_document', 'dead') RETURNING id")
    return {"doc": doc["id"], "session": chat["session_id"], "fqdn": "odoo.b_db.secret_model",
            "instance": "b-erp", "event": event.json()["id"], "job": job}


async def test_tenant_a_never_sees_tenant_b(api: AsyncTestClient, db_url: str, owner: asyncpg.Pool) -> None:
    ids = await _tenant_b(api, db_url, owner)
    a = bearer(await issue_key(db_url, "a"))
    await api.post("/v1/kb/documents?wait=true", headers=a, json={
        "external_id": "plan", "title": "Plan", "content": "The launch code of tenant a is public."})

    not_found = [
        ("GET", f"/v1/kb/documents/{ids['doc']}", None), ("PUT", f"/v1/kb/documents/{ids['doc']}", {"content": "x"}),
        ("DELETE", f"/v1/kb/documents/{ids['doc']}", None),
        ("GET", f"/v1/chat/sessions/{ids['session']}", None),
        ("POST", "/v1/chat", {"message": "and the code?", "session_id": ids["session"]}),
        ("POST", "/v1/summarize", {"document_id": ids["doc"]}),
        ("GET", f"/v1/catalog/assets/{ids['fqdn']}", None), ("DELETE", f"/v1/catalog/assets/{ids['fqdn']}", None),
        ("GET", f"/v1/odoo/events/{ids['event']}", None), ("POST", f"/v1/odoo/events/{ids['event']}/replay", None),
        ("POST", f"/v1/odoo/instances/{ids['instance']}/secrets", {"secret": "a" * 24}),
        ("POST", f"/v1/jobs/{ids['job']}/replay", None),
    ]
    for method, path, body in not_found:
        r = await api.request(method, path, headers=a, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert CANARY not in r.text

    # Writes that would land on B's rows are refused.
    r = await api.put(f"/v1/catalog/assets/{ids['fqdn']}", headers=a, json={"type": "view"})
    assert r.status_code == 404 and CANARY not in r.text
    assert await owner.fetchval("SELECT type FROM catalog.assets WHERE fqdn = $1", ids["fqdn"]) == "table"
    # Names are per tenant: A's instance of the same name is its own, and B's is untouched.
    r = await api.post("/v1/odoo/instances", headers=a, json={"name": ids["instance"], "base_url": "http://x",
                                                               "database": "x", "secrets": ["a" * 24]})
    assert r.status_code == 201, r.text
    rows = await owner.fetch("SELECT tenant_id, base_url FROM odoo.instances WHERE name = $1 ORDER BY 1", ids["instance"])
    assert [tuple(r) for r in rows] == [("a", "http://x"), ("b", "http://odoo")]

    # Nothing of B in what A reads: search (every mode), ask, chat, completions, lists, export, drift, jobs.
    for mode in ("hybrid", "vector", "lexical", "trigram"):
        r = await api.post("/v1/search", headers=a, json={"query": f"{CANARY} launch code", "mode": mode, "k": 50})
        assert r.status_code == 200 and CANARY not in r.text and "Secret plan" not in r.text, mode
    r = await api.post("/v1/search", headers=a, json={"query": "launch code", "filters": {"document_ids": [ids["doc"]]}})
    assert r.json()["hits"] == []
    r = await api.post("/v1/ask", headers=a, json={"question": f"What is the {CANARY} launch code?", "user_id": "u1"})
    assert r.status_code == 200 and CANARY not in r.text and "4242" not in r.text
    assert all(c["document_id"] != ids["doc"] for c in r.json()["citations"])
    r = await api.post("/v1/chat", headers=a, json={"message": f"What is the {CANARY} launch code?", "user_id": "u1"})
    assert r.status_code == 200 and CANARY not in json.dumps(r.json()["reply"])  # the query echoes the question
    r = await api.post("/v1/chat/completions", headers=a, json={
        "model": "ipai-rag", "messages": [{"role": "user", "content": f"{CANARY} launch code?"}]})
    assert r.status_code == 200 and CANARY not in json.dumps(r.json()["choices"]) + json.dumps(r.json()["citations"])
    for path in ("/v1/kb/documents", "/v1/kb/export", "/v1/catalog/assets?q=secret", "/v1/odoo/drift", "/v1/jobs"):
        r = await api.get(path, headers=a)
        assert r.status_code == 200 and CANARY not in r.text and "secret" not in r.text.lower(), path
    r = await api.post("/v1/kb/reindex", headers=a, json={"filters": {"document_ids": [ids["doc"]]}})
    assert r.json()["documents"] == 0
    assert (await owner.fetchval("SELECT count(*) FROM rag.documents WHERE tenant_id = 'b'")) >= 2, "B intact"

    # The workers obey it too: B's document was embedded under B, B's event processed under B.
    assert await owner.fetchval("SELECT count(*) FROM rag.chunk_embeddings WHERE tenant_id = 'b'") >= 1
    for _ in range(100):
        status = await owner.fetchval("SELECT status FROM odoo.webhook_events WHERE id = $1", ids["event"])
        if status == "completed":
            break
        await asyncio.sleep(0.1)
    assert status == "completed"
    assert await owner.fetchval("SELECT tenant_id FROM odoo_seed.shadow_projects WHERE name = $1", CANARY) == "b"


async def test_secrets_never_reach_logs_or_error_bodies(db_url: str, tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    fake = fake_openai
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    handler.setFormatter(JsonFormatter())  # the service's own log lines, request ids included
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        settings = make_settings(db_url, tmp_path)
        services = await Services.start(settings, embedder=CountingEmbedder(), database=Database(db_url))
        await services.vault.put("default", MODEL_KEY_SECRET, SENTINEL)  # the model key lives in the vault only
        await services.vault.put("default", webhook_secret("erp"), SENTINEL + "-webhook")
        await services.vault.put("default", OUTBOUND_SECRET, SENTINEL + "-outbound")
        await services.db.tenant("default").execute(
            "INSERT INTO odoo.instances (name, base_url, database) VALUES ('erp', 'http://odoo', 'erp')")
        await services.close()

        settings = replace(settings, openai=OpenAISettings(api_key=None, base_url=fake.base_url, max_retries=1))
        app = create_app(settings, embedder=CountingEmbedder(), database=Database(db_url), run_worker=True)
        async with AsyncTestClient(app) as client:
            root.addHandler(handler)  # the app's logging configuration replaced the root's handlers
            key = bearer(await issue_key(db_url))
            await client.post("/v1/kb/documents?wait=true", headers=key, json={
                "external_id": "p", "content": "Payroll is run by Jane Smith on the 25th."})
            r = await client.post("/v1/ask", headers=key, json={"question": "Who runs payroll?"})
            assert r.status_code == 200, r.text
            assert fake.authorizations[-1] == f"Bearer {SENTINEL}", "the model key came from the vault"
            fake.fail_next(401, times=5)
            failed = await client.post("/v1/ask", headers=key, json={"question": "Who runs payroll?"})
            assert failed.status_code >= 400
            body = b"{}"
            bad = await client.post("/v1/odoo/webhook", content=body, headers={
                "x-ipai-instance": "erp", "x-ipai-timestamp": str(int(time.time())), "x-ipai-signature": "sha256=00"})
            assert bad.status_code == 401
            denied = await client.post("/v1/kb/documents", headers={"authorization": f"Bearer {SENTINEL}"}, json={})
            assert denied.status_code == 401
            mcp = await client.post("/mcp", headers={"authorization": f"Bearer {SENTINEL}",
                                                     "accept": "application/json, text/event-stream"},
                                    json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            assert mcp.status_code == 401
            # an event routed (signed with the outbound secret) to a receiver that is down: retried, logged
            await client.put("/v1/routes/down", headers=key, json={"source": "odoo", "url": "http://127.0.0.1:9/x"})
            signed = json.dumps({"event_type": "write", "aggregate_type": "account.move", "aggregate_id": 1,
                                 "payload": {"id": 1}}).encode()
            ts = int(time.time())
            routed = await client.post("/v1/odoo/webhook", content=signed, headers={
                "x-ipai-instance": "erp", "x-ipai-timestamp": str(ts),
                "x-ipai-signature": sign(SENTINEL + "-webhook", ts, signed)})
            assert routed.status_code == 202, routed.text
            for _ in range(100):
                deliveries = (await client.get("/v1/routes/deliveries", headers=key)).json()
                if deliveries and deliveries[0]["status"] == "failed":
                    break
                await asyncio.sleep(0.1)
            assert deliveries and deliveries[0]["status"] == "failed", deliveries
            metrics = await client.get("/metrics", headers=key)
            texts = [r.text, failed.text, bad.text, denied.text, mcp.text, metrics.text, json.dumps(deliveries)]
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    assert records, "logging was captured"
    for text in texts + records:
        assert SENTINEL not in text, text
