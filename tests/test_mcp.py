"""The MCP gateway with the SDK's own client: over streamable HTTP against the running service (the same
answers as the REST API, scopes, tenants), and over stdio as a desktop client starts it."""
from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from app.asgi import create_app
from sql.db import Database
from tests.conftest import CountingEmbedder, bearer, issue_key, make_settings
from tests.live_server import LiveServer

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def session(url: str, token: str) -> AsyncIterator[ClientSession]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        async with streamable_http_client(f"{url}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as client:
                await client.initialize()
                yield client


def text_of(result: object) -> str:
    return "".join(part.text for part in result.content if getattr(part, "text", None))  # type: ignore[attr-defined]


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> LiveServer:
    app = create_app(make_settings(db_url, tmp_path), embedder=CountingEmbedder(), database=Database(db_url),
                     run_worker=True)
    with LiveServer(app) as server:
        yield server


async def test_tools_answer_as_the_rest_api_does(live: LiveServer, db_url: str) -> None:
    token = await issue_key(db_url, "acme")
    async with httpx.AsyncClient(base_url=live.url, headers=bearer(token), timeout=60) as rest:
        r = await rest.post("/v1/kb/documents?wait=true", json={
            "external_id": "credit-notes", "title": "Credit notes",
            "content": "# Credit notes\n\nA credit note reverses a posted customer invoice in full or in part."})
        assert r.status_code == 201, r.text
        document_id = r.json()["documents"][0]["id"]
        searched = (await rest.post("/v1/search", json={"query": "reverse a posted invoice", "k": 5})).json()
        asked = (await rest.post("/v1/ask", json={"question": "What reverses a posted customer invoice?"})).json()

    async with session(live.url, token) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert {"search_knowledge", "ask", "get_document", "catalog_lookup", "catalog_lineage", "odoo_drift",
                "list_jobs"} <= tools.keys()
        search_schema = tools["search_knowledge"].input_schema
        assert search_schema["properties"]["mode"]["enum"] == ["hybrid", "lexical", "trigram", "vector"], "SearchIn's"
        assert search_schema["properties"]["k"]["maximum"] == 1000 and search_schema["required"] == ["query"]
        invalid = await client.call_tool("search_knowledge", {"query": "x", "k": 0})
        assert invalid.is_error and "k must be between 1 and 1000" in text_of(invalid)
        hits = json.loads(text_of(await client.call_tool("search_knowledge", {"query": "reverse a posted invoice",
                                                                               "k": 5})))["hits"]
        assert [h["chunk_id"] for h in hits] == [h["chunk_id"] for h in searched["hits"]]
        answer = json.loads(text_of(await client.call_tool("ask", {"question": "What reverses a posted customer invoice?"})))
        assert answer["answer"] == asked["answer"] and answer["grounded"]
        assert answer["citations"][0]["document_id"] == document_id
        document = json.loads(text_of(await client.call_tool("get_document", {"document_id": document_id})))
        assert document["title"] == "Credit notes"
        resource = await client.read_resource(f"kb://documents/{document_id}")
        chunks = json.loads(resource.contents[0].text)["chunks"]
        assert any("A credit note reverses" in c["content"] for c in chunks), chunks
        async with httpx.AsyncClient(base_url=live.url, headers=bearer(token), timeout=60) as rest:
            await rest.put("/v1/catalog/assets/odoo.odoo_core.account.move", json={"type": "odoo_model"})
        asset = await client.read_resource("catalog://assets/odoo.odoo_core.account.move")
        assert json.loads(asset.contents[0].text)["type"] == "odoo_model"
        missing = await client.call_tool("get_document", {"document_id": 987654})
        assert missing.is_error and "does not exist" in text_of(missing)


async def test_scopes_and_tenants_hold(live: LiveServer, db_url: str) -> None:
    owner = await issue_key(db_url, "acme")
    async with httpx.AsyncClient(base_url=live.url, headers=bearer(owner), timeout=60) as rest:
        await rest.post("/v1/kb/documents?wait=true", json={
            "external_id": "canary", "content": "The zanzibar canary code of acme is 4242."})
    reader = await issue_key(db_url, "acme", ["kb:read"])
    async with session(live.url, reader) as client:
        refused = await client.call_tool("ask", {"question": "What is the canary code?"})
        assert refused.is_error and "scope 'ask'" in text_of(refused)
        assert "4242" in text_of(await client.call_tool("search_knowledge", {"query": "zanzibar canary"}))
    other = await issue_key(db_url, "globex")
    async with session(live.url, other) as client:
        for tool, args in (("search_knowledge", {"query": "zanzibar canary code", "mode": "lexical"}),
                           ("ask", {"question": "What is the zanzibar canary code?"})):
            assert "4242" not in text_of(await client.call_tool(tool, args))
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as anonymous:
        r = await anonymous.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                 headers={"accept": "application/json, text/event-stream"})
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


async def test_stdio_server_answers_initialize_and_lists_tools(db_url: str, tmp_path: Path) -> None:
    token = await issue_key(db_url, "acme", ["kb:read", "ask"])
    env = {**os.environ, "DATABASE_URL": db_url, "EMBEDDING_PROVIDER": "hash", "IPAI_DATA_DIR": str(tmp_path),
           "IPAI_API_KEY": token}
    params = StdioServerParameters(command=sys.executable, args=["-m", "app.cli", "mcp"], env=env, cwd=str(ROOT))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        info = await client.initialize()
        assert info.server_info.name == "ipai-rag"
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "search_knowledge" in names and "ask" in names
        result = await client.call_tool("search_knowledge", {"query": "anything"})
        assert not result.is_error and json.loads(text_of(result))["hits"] == []
