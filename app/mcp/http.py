"""/mcp mounted in the service: credentials and the key's rate limit are checked before the MCP transport sees
the request (401 / 429 problems like the REST API's), then the SDK's streamable HTTP app answers, stateless, in
JSON."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from litestar import Request
from litestar.handlers import ASGIRouteHandler, asgi
from litestar.types import ASGIApp, Receive, Scope, Send
from mcp.server.transport_security import TransportSecuritySettings

from app.mcp.gateway import Gateway
from app.problems import handle_ipai
from sql.errors import IpaiError, UpstreamError


class McpEndpoint:
    """The transport of one run of the app (the SDK's session manager runs once: a restarted app, as the
    tests restart one, makes a new one)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.transport: ASGIApp | None = None

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        # No session state: any replica answers any request. Every call carries its bearer credentials (never a
        # cookie), so DNS rebinding gains a page nothing; the SDK's Host check would refuse the service's name.
        self.transport = self.gateway.server.streamable_http_app(  # type: ignore[assignment]
            streamable_http_path="/", stateless_http=True, json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        try:
            async with self.gateway.server.session_manager.run():
                yield
        finally:
            self.transport = None

    def handler(self) -> ASGIRouteHandler:
        @asgi("/mcp", is_mount=True, copy_scope=True, opt={"public": True})
        async def mcp(scope: Scope, receive: Receive, send: Send) -> None:
            request: Request = Request(scope, receive)
            try:
                authenticator = self.gateway.authenticator()
                principal = await authenticator.authenticate(request.headers.get("authorization"),
                                                             request.headers.get("x-api-key"))
                authenticator.throttle(principal)  # the REST API's rate limit, per key
                if self.transport is None:
                    raise UpstreamError("the MCP transport is not running; retry once the service has started")
            except IpaiError as exc:
                await handle_ipai(request, exc).to_asgi_response(app=None, request=request)(scope, receive, send)
                return
            await self.transport(scope, receive, send)

        return mcp
