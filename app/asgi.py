"""create_app(): routes, lifespan (services, in-process worker), dependencies, error mapping, OpenAPI."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin

from app.assistant.controllers import AskController, ToolsController
from app.assistant.llm import ChatModel
from app.catalog.controllers import CatalogController
from app.console.controllers import console_routes
from app.chat.controllers import ChatController, ModelsController
from app.feedback.controllers import FeedbackController
from app.mcp.gateway import Gateway
from app.mcp.http import McpEndpoint
from app.odoo.controllers import OdooController
from app.odoo.route_controllers import RoutesController
from app.odoo.handlers import ChangeHandlers
from app.odoo.ledger import Ledger
from app.odoo.scheduler import Scheduler
from sql.db import Database
from sql.listener import Listener
from sql.errors import Unauthorized
from app.kb.controllers import KnowledgeBaseController
from app.openapi import JsonDocument, query_parameters
from app.bodies import check_request
from app.problems import EXCEPTION_HANDLERS
from app.realtime.controllers import RealtimeController
from app.realtime.hub import Hub
from app.search.controllers import SearchController
from app.security.auth import Authenticator, require_scope
from app.security.key_cache import KeyCache
from app.security.controllers import MeController, VaultController
from app.security.keys import Principal, create_key
from app.services import Services
from app.settings import Settings, get_settings
from app.storage.controllers import BucketsController, SignedController, StorageController
from app.storage.exports import ExportsController
from app.system.controllers import SystemController
from app.system.middleware import request_context
from app.system.tracing import tracing_plugin
from ingest.embedding import Embedder, warm
from sql.queries import q
from sql.values import TENANT_NAME

log = logging.getLogger(__name__)


def provide_services(state: State) -> Services:
    return state.services


def provide_principal(request: Request, services: Services) -> Principal:  # noqa: ARG001
    """Who is calling (set by require_scope, before the handler, from the request's API key or JWT).

    It takes `services` only to chain the providers (services, then principal, then tenant_id): Litestar resolves
    independent dependencies concurrently, in a task group of their own on every request - about 5% of a search
    request's CPU for three functions that return at once."""
    principal = getattr(request.state, "principal", None)
    if principal is None:  # a public route asked for it: it has no caller
        raise Unauthorized("this endpoint is public and acts for no tenant")
    return principal


def provide_tenant(principal: Principal) -> str:
    """The tenant a request acts for: always its credentials' tenant, never a header."""
    tenant = principal.tenant_id
    if not TENANT_NAME.match(tenant):
        raise Unauthorized("the credentials name a tenant that is not 1-64 letters, digits, '_', '.', ':' or '-'")
    return tenant


async def _development_key(services: Services) -> None:
    """Print a fresh admin key of the default tenant (the previous development key is revoked)."""
    tenant = services.settings.server.tenant_id
    await services.db.tenant(tenant).execute(
        q("dev_keys_revoke"))
    _, token = await create_key(services.db, tenant, ["admin"], "development")
    print(f"development API key (tenant {tenant!r}, scope admin; replaced at every start):\n  {token}\n"
          f"  e.g. curl -H 'Authorization: Bearer {token}' ...", flush=True)


async def _ingest_sample(services: Services, paths: Sequence[Path]) -> None:
    from ingest.loaders import iter_paths, load_path
    from ingest.pipeline import IngestOptions

    docs = [doc for root, path in iter_paths(list(paths)) for doc in load_path(root, path)]
    result = await services.pipeline.ingest(docs, IngestOptions(source="sample", tenant_id=services.settings.server.tenant_id))
    log.info("sample knowledge base: %d new, %d updated, %d unchanged documents",
             result.inserted, result.updated, result.unchanged)


async def before_request(request: Request) -> Response | None:
    """Credentials and scope first, then the request's own checks (app.bodies)."""
    await require_scope(request)
    return await check_request(request)


def create_app(
    settings: Settings | None = None, *, embedder: Embedder | None = None, database: Database | None = None,
    run_worker: bool | None = None, startup_ingest: Sequence[Path] = (), llm: ChatModel | None = None,
    dev_key: bool = False, tracing_exporter: object | None = None,
) -> Litestar:
    """The ASGI application; nothing starts until its lifespan runs.

    startup_ingest: folders ingested (source 'sample') once the service is up; unchanged files are no-ops.
    tracing_exporter: an OpenTelemetry span exporter (tests); else traces go where OTEL_EXPORTER_OTLP_* says, if set.
    """
    settings = settings or get_settings()
    worker_enabled = settings.server.run_worker if run_worker is None else run_worker
    mcp = McpEndpoint(Gateway(lambda: app.state.services, lambda: app.state.authenticator))

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        services = await Services.start(settings, embedder=embedder, database=database, llm=llm)
        app.state.services = services
        await warm(services.embedder)  # the model, before the first request (not on it)
        app.state.embedding_dimensions = services.embedder.dimensions  # for the OpenAPI document
        listener = Listener(services.db.url)  # the process's one LISTEN connection
        keys = KeyCache(listener, settings.security.key_cache_seconds)
        app.state.authenticator = Authenticator(services.db, settings.security, keys)
        app.state.hub = Hub(listener, max_streams=settings.server.max_streams,
                            max_streams_per_caller=settings.server.max_streams_per_caller)
        await listener.start()  # the channels of both, heard from now on (and again after a loss)
        if dev_key:
            await _development_key(services)
        stop = asyncio.Event()
        tasks = []
        http = httpx.AsyncClient(timeout=30)
        if worker_enabled:
            handlers = ChangeHandlers(services, settings.odoo.kb_models)
            scheduler = Scheduler(services)
            tasks = [asyncio.create_task(services.worker().run(stop)),
                     asyncio.create_task(Ledger(services).worker(handlers).run(stop)),
                     asyncio.create_task(scheduler.run(stop)),
                     asyncio.create_task(scheduler.delivery_worker(http).run(stop))]
        if startup_ingest:
            tasks.append(asyncio.create_task(_ingest_sample(services, startup_ingest)))
        try:
            async with mcp.serving():
                yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await http.aclose()
            await listener.close()
            await services.close()

    app = Litestar(
        route_handlers=[mcp.handler(), KnowledgeBaseController, SearchController, SystemController, AskController, ToolsController, ChatController,
                        ModelsController, FeedbackController, CatalogController, OdooController, RoutesController, RealtimeController, VaultController,
                        StorageController, BucketsController, SignedController, ExportsController, MeController,
                        *console_routes()],
        dependencies={"services": Provide(provide_services, sync_to_thread=False),
                      "tenant_id": Provide(provide_tenant, sync_to_thread=False),
                      "principal": Provide(provide_principal, sync_to_thread=False)},
        before_request=before_request,
        logging_config=None,  # the process configures logging (app.system.logs), Litestar keeps its hands off
        plugins=[p for p in (tracing_plugin(tracing_exporter),) if p is not None],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.server.max_upload_bytes,
        state=State({"settings": settings}),
        openapi_config=OpenAPIConfig(
            title="ipai-rag", version="0.1.0", path="/docs",
            description="Knowledge base, hybrid retrieval and Odoo integration service.",
            render_plugins=[ScalarRenderPlugin(), JsonDocument()],
        ),
    )
    query_parameters(app)
    # Around the router (and the traces): Litestar runs its own middleware on matched routes only
    app.asgi_handler = request_context(app.asgi_handler)
    return app
