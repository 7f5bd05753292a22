"""Every request: its id (X-Request-ID, taken from the caller when well-formed, else made; returned in the
response, named by every log line of the request and carried into the jobs it enqueues) and its metrics
(count and latency by route template and status)."""
from __future__ import annotations

import re
import secrets
import time

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import trace

from app.metrics import HTTP_DURATION, HTTP_REQUESTS
from sql.queue import REQUEST_ID

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
        span = trace.get_current_span()  # the request's span, when traces are on (app.system.tracing)
        if span.is_recording():
            span.set_attribute("ipai.request_id", request_id)
        status = 500
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (HEADER, request_id.encode())]
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            REQUEST_ID.reset(token)
            route = scope.get("path_template") or "unmatched"
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_DURATION.labels(scope["method"], route).observe(time.perf_counter() - started)

    return middleware
