"""Problem-details (RFC 9457) responses for every error, mapped in one place."""
from __future__ import annotations

import logging
import math
from typing import Any

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from sql.values import MAX_JSON_DEPTH
from sql.errors import (
    BadRequest, ConfigurationError, Conflict, Forbidden, InvalidInput, IpaiError, NotFound, PayloadTooLarge,
    RangeNotSatisfiable, TooManyRequests, Unauthorized, UnsupportedMediaType, UpstreamError,
)

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, request: Request | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {
        "type": f"https://ipai-rag.dev/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


STATUS: dict[type[IpaiError], int] = {
    InvalidInput: 422, BadRequest: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, Conflict: 409,
    PayloadTooLarge: 413, UnsupportedMediaType: 415, RangeNotSatisfiable: 416, TooManyRequests: 429, UpstreamError: 503,
    ConfigurationError: 500,
}
"""The HTTP status of each error class (a subclass takes its nearest ancestor's): the one place that knows."""
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ipai-rag"'}


def status_of(exc: IpaiError) -> int:
    return next((STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), 500)


def headers_of(exc: IpaiError) -> dict[str, str]:
    """What HTTP adds to an error: the authentication challenge, the time to wait before a retry."""
    if isinstance(exc, Unauthorized):
        return CHALLENGE
    if isinstance(exc, TooManyRequests):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    if isinstance(exc, RangeNotSatisfiable):
        return {"Content-Range": f"bytes */{exc.size}"}
    return {}


def handle_ipai(request: Request, exc: IpaiError) -> Response:
    status = status_of(exc)
    if status >= 500:
        log.error("%s: %s", exc.title, exc.detail)
    return problem(status, exc.title, exc.detail, request, headers_of(exc), **exc.extra)


def handle_validation(request: Request, exc: ValidationException) -> Response:
    """A body that does not fit its type is a 422 that names the field (an empty one a 400); a bad query or
    path parameter is a 400."""
    errors = exc.extra if isinstance(exc.extra, list) else None
    body = [e for e in errors or () if isinstance(e, dict) and e.get("source") == "body"]
    if body:
        if body[0].get("message") == "'data'":  # no body at all for a handler that needs one
            return problem(400, "Bad request", "the request body is empty; send a JSON object", request)
        where = lambda e: "" if e.get("key") in (None, "data") else f" - at `$.{e['key']}`"  # noqa: E731
        detail = "; ".join(f"{e.get('message')}{where(e)}" for e in body)
        return problem(422, "Invalid input", f"the JSON body does not fit: {detail}", request)
    detail = exc.detail
    if errors:
        detail = "; ".join(
            f"{e.get('key') or e.get('source') or 'body'}: {e.get('message')}" for e in errors if isinstance(e, dict)
        ) or detail
    return problem(400, "Bad request", detail, request, errors=errors)


def handle_http(request: Request, exc: HTTPException) -> Response:
    titles = {404: "Not found", 405: "Method not allowed", 413: "Payload too large", 415: "Unsupported media type"}
    detail = exc.detail
    if exc.status_code == 413:
        detail = f"{exc.detail}: the request body is larger than this endpoint accepts"
    if exc.status_code == 400 and str(exc.detail).startswith("JSON is malformed"):
        detail = f"malformed JSON: {str(exc.detail).removeprefix('JSON is malformed: ')}"
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed here; allowed: {(exc.headers or {}).get('allow', 'none')}"
    # Litestar's headers (Allow on a 405) go out with the problem.
    return problem(exc.status_code, titles.get(exc.status_code, "HTTP error"), detail, request, exc.headers or None)


def handle_policy(request: Request, exc: asyncpg.InsufficientPrivilegeError) -> Response:
    """A write the database's row-level security refused (it carried another tenant's id)."""
    log.warning("refused by the database on %s: %s", request.url.path, exc)
    return problem(403, "Forbidden", "the database's tenant policy refused this write", request)


def handle_too_deep(request: Request, exc: RecursionError) -> Response:
    """A body nested past what the decoder's recursion allows."""
    return problem(422, "Invalid input", f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels", request)


def handle_database_down(request: Request, exc: Exception) -> Response:
    log.error("database unavailable: %s", exc)
    return problem(503, "Database unavailable", "the database cannot be reached; retry later", request)


def handle_unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, (ConnectionError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                        asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)):
        return handle_database_down(request, exc)
    log.exception("unhandled error on %s", request.url.path)
    return problem(500, "Internal error", "an unexpected error occurred; it has been logged", request)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    IpaiError: handle_ipai,
    ValidationException: handle_validation,
    HTTPException: handle_http,
    asyncpg.InsufficientPrivilegeError: handle_policy,
    RecursionError: handle_too_deep,
    Exception: handle_unexpected,
}
