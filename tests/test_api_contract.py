"""The OpenAPI document is the API's contract: every operation states its problem-details errors, the
credentials and scope it needs and what it streams, and the rules a body or path must follow are stated
there and enforced by the handlers (tests/test_api_fuzz.py checks the responses against it over HTTP)."""
from __future__ import annotations

import re
import uuid

import pytest
from litestar.testing import AsyncTestClient

from app.assistant.controllers import ANSWER_EVENTS
from app.catalog.fqdn import FQDN_SCHEMA, parse_fqdn
from app.params import NOT_SPACE
from sql.errors import InvalidInput
from app.realtime.controllers import CHANNELS
from app.security.auth import ANY_SCOPE
from app.security.keys import SCOPES
from tests.test_api_kb import assert_problem, client  # noqa: F401  (client: the fixture)

PUBLIC = {"health", "live", "githubWebhook", "odooWebhook", "getSignedObject", "getPublicObject"}
"""Signed webhooks and signed URLs authenticate by their signature; the public bucket needs nothing."""


async def test_every_operation_states_its_errors_credentials_and_scope(client: AsyncTestClient) -> None:  # noqa: F811
    doc = (await client.get("/docs/openapi.json")).json()
    assert doc["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    operations = {op["operationId"]: op for item in doc["paths"].values() for op in item.values()
                  if isinstance(op, dict) and "operationId" in op}
    scopes = {h.operation_id: h.opt.get("scope", "admin") for route in client.app.routes
              for h in getattr(route, "route_handlers", ()) if h.operation_id in operations}
    assert len(operations) >= 39 and set(scopes) == set(operations)
    for name, op in operations.items():
        errors = {code: r for code, r in op["responses"].items() if not code.startswith(("1", "2", "3"))}
        assert set(errors) == {"4XX", "503"}, name  # no entry left over from Litestar's application/json 400
        for response in errors.values():
            assert response["content"] == {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}, name
        if name in PUBLIC:
            assert "security" not in op, name
        else:
            assert op["security"] == [{"bearer": []}, {"apiKey": []}], name
            if scopes[name] == ANY_SCOPE:
                assert "Needs credentials (any scope)." in op["description"], name
            else:
                assert scopes[name] in SCOPES and f"Needs the scope `{scopes[name]}`." in op["description"], name
    assert "Needs the scope `ask`." in operations["ask"]["description"]
    assert "Needs the scope `admin`." in operations["putSecret"]["description"]
    # the query parameters a handler accepts (app.bodies refuses others) are those its operation states
    handlers = {h.operation_id: h for route in client.app.routes for h in getattr(route, "route_handlers", ())}
    for name, op in operations.items():
        query = [p for p in op.get("parameters", ()) if p["in"] == "query"]
        assert handlers[name].opt["query"] == {p["name"] for p in query}, name
        lists = {p["name"] for p in query if p.get("schema", {}).get("type") == "array"}
        assert handlers[name].opt["query_lists"] == lists, name
    assert {"limit", "source"} <= handlers["listDocuments"].opt["query"]


async def test_the_reference_page_loads_the_completed_document(client: AsyncTestClient) -> None:  # noqa: F811
    doc = (await client.get("/docs/openapi.json")).json()  # built on this first request, then kept
    dimensions = client.app.state.services.embedder.dimensions  # known once the server started
    vector = doc["components"]["schemas"]["SearchIn"]["properties"]["query_embedding"]["anyOf"][0]
    assert (vector["minItems"], vector["maxItems"]) == (dimensions, dimensions)
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'data-url="/docs/openapi.json"' in page.text  # the page loads the document
    assert (await client.get("/docs/openapi.json")).json() == doc


async def test_streamed_answers_are_documented_event_by_event(client: AsyncTestClient) -> None:  # noqa: F811
    doc = (await client.get("/docs/openapi.json")).json()
    for path in ("/v1/ask", "/v1/chat"):
        event = doc["paths"][path]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
        assert event["properties"]["event"]["enum"] == list(ANSWER_EVENTS)
    completions = doc["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert completions["text/event-stream"]["schema"]["required"] == ["data"]
    assert set(completions) == {"application/json", "text/event-stream"}
    realtime = doc["paths"]["/v1/realtime/{channel}"]["get"]["responses"]["200"]["content"]
    assert list(realtime) == ["text/event-stream"]  # it always streams
    assert realtime["text/event-stream"]["schema"]["properties"]["event"]["enum"] == list(CHANNELS)
    r = await client.post("/v1/ask", json={"question": "What is a credit note?", "stream": True})
    events = re.findall(r"^event: (\w+)", r.text, re.MULTILINE)
    assert events and set(events) <= set(ANSWER_EVENTS) and events[-1] == "done", r.text


@pytest.mark.parametrize("value", [
    "odoo.odoo_core.account.move", "scout.gold.v_revenue_summary", "a.b.C_1", "odoo.db2.x.y.z",
    "odoo.odoo_core", "Odoo.core.x", "odoo.core.", "odoo..x", "1odoo.core.x", "odoo.core.account-move",
    " odoo.core.x", "odoo.core.x\n", "odoo.core\n.x", "odoo.core.x\n.y", "odoo.core.ä", ""])
def test_the_stated_fqdn_pattern_is_what_parse_fqdn_accepts(value: str) -> None:
    stated = re.search(FQDN_SCHEMA["pattern"], value) is not None and "\n" not in value  # ECMA $: no newline
    try:
        parse_fqdn(value)
        accepted = True
    except InvalidInput:
        accepted = False
    assert accepted == stated, value


async def test_the_stated_rules_are_enforced_with_their_own_words(client: AsyncTestClient) -> None:  # noqa: F811
    doc = (await client.get("/docs/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    assert schemas["AskIn"]["properties"]["question"]["pattern"] == NOT_SPACE
    assert schemas["SearchIn"]["properties"]["k"]["maximum"] == 1000
    assert schemas["SummarizeIn"]["properties"]["style"]["enum"] == ["paragraph", "bullets"]
    assert schemas["InstanceIn"]["properties"]["secrets"]["items"]["minLength"] == 16
    cases = [
        ("POST", "/v1/ask", {"question": " \n\t"}, "question is empty"),
        ("POST", "/v1/search", {"query": "\u2003"}, "query is empty"),
        ("POST", "/v1/search", {"query": "credit", "k": 0}, "k must be between 1 and 1000"),
        ("POST", "/v1/search", {"query": "credit", "offset": -1}, "offset"),
        ("POST", "/v1/search", {"query": "credit", "match_threshold": 1.5}, "match_threshold"),
        ("POST", "/v1/classify", {"text": "  "}, "empty"),
        ("POST", "/v1/classify", {"text": "refund", "labels": ["billing"]}, "two or more"),
        ("POST", "/v1/classify", {"text": "refund", "labels": ["billing", "billing"]}, "none repeated"),
        ("POST", "/v1/summarize", {"text": "Some text.", "style": "haiku"}, "style"),
        ("POST", "/v1/summarize", {"text": "Some text.", "max_tokens": 15}, "max_tokens"),
        ("POST", "/v1/summarize", {"text": " "}, "no text"),
        ("POST", "/v1/memory", {"text": "likes tea", "user_id": " "}, "user_id is empty"),
        ("POST", "/v1/chat", {"message": ""}, "empty"),
        ("POST", "/v1/chat", {"message": "hi", "session_id": "not-a-uuid"}, "not a UUID"),
        ("POST", "/v1/chat/completions", {"messages": [{"role": "system", "content": "be brief"}]}, "user message"),
        ("POST", "/v1/kb/documents", {"content": "\n\n"}, "empty"),
        ("POST", "/v1/kb/documents", {"content": "text", "external_id": "x" * 1025}, "external_id"),
        ("PUT", "/v1/catalog/assets/odoo.core.x", {"type": " "}, "type is empty"),
        ("POST", "/v1/catalog/lineage", {"from_fqdn": "odoo.core", "to_fqdn": "odoo.core.x"}, "system.db.model"),
        ("POST", "/v1/odoo/instances", {"name": "o", "base_url": "http://o", "database": "d", "secrets": []},
         "16 or more"),
        ("POST", "/v1/odoo/instances", {"name": "o", "base_url": "http://o", "database": "d",
                                        "secrets": ["short"]}, "16 or more"),
        ("PUT", "/v1/vault/secrets/token", {"value": ""}, "value is empty"),
        ("POST", "/v1/realtime/gossip", {"payload": {}}, "unknown channel"),
    ]
    for method, url, body, words in cases:
        assert_problem(await client.request(method, url, json=body), 422, words)
    for url in ("/v1/catalog/assets/odoo.core", "/v1/catalog/lineage/odoo.core%0A.x"):
        assert_problem(await client.get(url), 422, "FQDN")
    assert_problem(await client.get("/v1/chat/sessions/not-a-uuid"), 422, "not a UUID")
    assert (await client.get(f"/v1/chat/sessions/{uuid.uuid4()}")).status_code == 404
