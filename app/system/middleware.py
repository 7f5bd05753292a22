"""Every request: its id (X-Request-ID, taken from the caller when well-formed, else made; returned in the
response, named by every log line of the request and carried into the jobs it enqueues), its metrics (count and
latency by route template and status) and its access line. It wraps the whole application (app.asgi), so that
a request no route matches (a 404, a 405) has them too."""
from __future__ import annotations

import logging
import re
import secrets
import time

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import trace

from app.metrics import HTTP_DURATION, HTTP_REQUESTS
from sql.queue import REQUEST_ID

ACCESS = logging.getLogger("ipai.access")
HEADER = b"x-request-id"
_WELL_FORMED = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


def request_context(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER), b"")
        request_id = given.decode() if _WELL_FORMED.match(given) else secrets.token_hex(16)
        token = REQUEST_ID.set(request_id)
        status = 500
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (HEADER, request_id.encode())]
                span = trace.get_current_span()  # the request's span, when traces are on (app.system.tracing)
                if span.is_recording():
                    span.set_attribute("ipai.request_id", request_id)
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            took = time.perf_counter() - started
            route = scope.get("path_template") or "unmatched"
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_DURATION.labels(scope["method"], route).observe(took)
            if ACCESS.isEnabledFor(logging.INFO):
                access_line(scope, status, took, request_id)
            REQUEST_ID.reset(token)

    return middleware


def access_line(scope: Scope, status: int, took: float, request_id: str) -> None:
    """One line per request: method, path, status, milliseconds and client (fields of its JSON line too). The path
    is the one received, still percent-encoded, and never with its query string: a signed URL's signature or any
    other credential a query may carry is not logged."""
    path = (scope.get("raw_path") or b"").partition(b"?")[0].decode("latin-1") or scope["path"]
    client = scope.get("client")
    ms = round(took * 1000, 1)
    ACCESS.info("%s %s %d %.1f ms", scope["method"], path, status, ms,
                extra={"request_id": request_id, "method": scope["method"], "path": path, "status": status,
                       "duration_ms": ms, "client": client[0] if client else None})
