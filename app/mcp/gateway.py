"""/mcp: the Model Context Protocol over streamable HTTP (the official SDK, stateless JSON responses), and the
same tools over stdio for desktop clients (`ipai-rag mcp`).

Every tool call is authenticated with the API keys and JWTs of the REST API and needs the scope the REST
operation needs; it acts for the credentials' tenant. Tool arguments are decoded into the REST API's own
request types (a search is a SearchIn), so a tool and its REST operation answer alike."""
from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool

from app.assistant.controllers import filters_of
from app.assistant.schemas import AskIn, ask_out
from app.catalog.service import Catalog
from app.kb.service import KnowledgeBase
from app.odoo.seed import drift
from app.search.schemas import SearchIn
from app.search.service import run_search
from app.security.auth import Authenticator
from app.security.keys import Principal
from app.services import Services
from sql.errors import IpaiError
from sql.queue import queue_stats

Credentials = Callable[[Context], Awaitable[Principal]]

INSTRUCTIONS = ("The company's knowledge base (documents written for its Odoo ERP), an assistant that answers from "
                "it with citations, and the catalog of its data assets by FQDN (system.db.model).")


class Gateway:
    """The tools, bound to the service's parts (services() once the app has started) and to a way of knowing
    who calls: the request's credentials (HTTP) or the key the process was started with (stdio)."""

    def __init__(self, services: Callable[[], Services], authenticator: Callable[[], Authenticator],
                 fixed: Principal | None = None) -> None:
        self.services = services
        self.authenticator = authenticator
        self.fixed = fixed
        # search and ask state the REST API's own request types (their fields, rules and filters)
        rest = [(self.search_knowledge, SearchIn, ("query", "k", "mode", "offset", "filters", "explain")),
                (self.ask, AskIn, ("question", "k", "filters"))]
        tools = []
        for fn, type_, fields in rest:
            tool = Tool.from_function(fn, description=inspect.getdoc(fn), structured_output=False)
            tool.parameters = rest_schema(type_, fields)
            tools.append(tool)
        self.server = MCPServer("ipai-rag", instructions=INSTRUCTIONS, version="0.1.0", tools=tools)
        for plain in (self.get_document, self.catalog_lookup, self.catalog_lineage, self.odoo_drift, self.list_jobs):
            self.server.add_tool(plain, description=inspect.getdoc(plain), structured_output=False)
        self.server.resource("kb://documents/{document_id}", mime_type="application/json")(self.document_resource)
        self.server.resource("catalog://assets/{fqdn}", mime_type="application/json")(self.asset_resource)

    async def caller(self, ctx: Context | None, scope: str) -> Principal:
        """Who calls, if the credentials allow the scope; else the tool call fails with the reason."""
        principal = self.fixed
        if principal is None:
            headers = (ctx.headers if ctx is not None else None) or {}
            try:
                principal = await self.authenticator().authenticate(headers.get("authorization"),
                                                                    headers.get("x-api-key"))
            except IpaiError as exc:
                raise ToolError(f"unauthorized: {exc.detail}") from exc
        if not principal.allows(scope):
            raise ToolError(f"forbidden: this tool needs the scope {scope!r}; the credentials have "
                            f"{', '.join(sorted(principal.scopes)) or 'none'}")
        return principal

    async def search_knowledge(self, query: str, ctx: Context, k: int = 10, mode: str = "hybrid", offset: int = 0,
                               filters: dict[str, Any] | None = None, explain: bool = False) -> str:
        """Search the knowledge base (hybrid: meaning, full text and fuzzy names); the best chunks first, each
        with its document, section and score (and with explain, each leg's rank and score)."""
        principal = await self.caller(ctx, "kb:read")
        body = _decode({"query": query, "k": k, "mode": mode, "offset": offset, "filters": filters or {},
                        "explain": explain}, SearchIn)
        return await _run(run_search(self.services(), principal.tenant_id, body))

    async def ask(self, question: str, ctx: Context, k: int = 5, filters: dict[str, Any] | None = None) -> str:
        """Answer a question from the knowledge base, with the passages it cites; grounded is false when the
        knowledge base does not cover it."""
        principal = await self.caller(ctx, "ask")
        services = self.services()
        body = _decode({"question": question, "k": k, "filters": filters or {}}, AskIn)
        question = _checked(services.assistant.check_question, body.question)
        answer = await _call(services.assistant.ask(question, tenant_id=principal.tenant_id, k=body.k,
                                                    filters=_checked(lambda f: filters_of(services, f), body.filters)))
        return _json(ask_out(answer))

    async def get_document(self, document_id: int, ctx: Context, chunks: bool = False) -> str:
        """One document of the knowledge base: title, source, version, metadata; with chunks=true its chunks."""
        principal = await self.caller(ctx, "kb:read")
        return await _run(KnowledgeBase(self.services(), principal.tenant_id).get(document_id, with_chunks=chunks))

    async def catalog_lookup(self, q: str, ctx: Context, limit: int = 20, type: str | None = None) -> str:
        """Find data assets by a fuzzy name (typos welcome): FQDNs like odoo.odoo_core.account.move."""
        principal = await self.caller(ctx, "catalog")
        items, _ = await _call(Catalog(self.services(), principal.tenant_id).search(q, type_=type,
                                                                                   limit=min(max(limit, 1), 200)))
        return _json(items)

    async def catalog_lineage(self, fqdn: str, ctx: Context, direction: Literal["up", "down"] = "down",
                              depth: int = 3) -> str:
        """What an asset feeds (down) or is fed by (up), to a depth of 1 to 10."""
        principal = await self.caller(ctx, "catalog")
        return await _run(Catalog(self.services(), principal.tenant_id).lineage(fqdn, direction, depth))

    async def odoo_drift(self, ctx: Context) -> str:
        """Expected (seeded) records against what Odoo holds: missing, orphaned, renamed."""
        principal = await self.caller(ctx, "sync")
        return await _run(drift(self.services().db.tenant(principal.tenant_id), principal.tenant_id))

    async def list_jobs(self, ctx: Context) -> str:
        """The work queue: counts by state, the oldest pending job's age, dead letters."""
        principal = await self.caller(ctx, "admin")
        return await _run(queue_stats(self.services().db.tenant(principal.tenant_id)))

    async def document_resource(self, document_id: str, ctx: Context) -> str:
        """A document of the knowledge base with its chunks."""
        principal = await self.caller(ctx, "kb:read")
        if not document_id.isdigit():
            raise ToolError(f"not a document id: {document_id!r}")
        return await _run(KnowledgeBase(self.services(), principal.tenant_id).get(int(document_id), with_chunks=True))

    async def asset_resource(self, fqdn: str, ctx: Context) -> str:
        """A data asset of the catalog by its FQDN (system.db.model), with its metadata."""
        principal = await self.caller(ctx, "catalog")
        return await _run(Catalog(self.services(), principal.tenant_id).get(fqdn))


def rest_schema(type_: type[Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """A tool's input schema: the JSON Schema of the REST request type, with the fields the tool takes."""
    (_,), definitions = msgspec.json.schema_components([type_], ref_template="#/$defs/{name}")
    schema = dict(definitions.pop(type_.__name__))
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k in fields}
    schema["required"] = [k for k in schema.get("required", []) if k in fields]
    if definitions:
        schema["$defs"] = definitions
    return schema


def _decode(value: dict[str, Any], type_: type[Any]) -> Any:
    try:
        return msgspec.convert(value, type_)
    except msgspec.ValidationError as exc:
        raise ToolError(f"invalid arguments: {exc}") from exc


def _checked(check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return check(value)
    except IpaiError as exc:
        raise ToolError(exc.detail) from exc


async def _call(work: Awaitable[Any]) -> Any:
    """The service's own errors (not found, invalid) become the tool call's error, in its words."""
    try:
        return await work
    except IpaiError as exc:
        raise ToolError(exc.detail) from exc


async def _run(work: Awaitable[Any]) -> str:
    return _json(await _call(work))


def _json(value: Any) -> str:
    return json.dumps(msgspec.to_builtins(value), ensure_ascii=False)
