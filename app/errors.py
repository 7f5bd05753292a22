"""The one error hierarchy; app/asgi.py maps each class to an HTTP status and a problem-details body."""
from __future__ import annotations


class IpaiError(Exception):
    """Base of every error the service raises on purpose."""

    status_code = 500
    title = "Internal error"

    def __init__(self, detail: str, *, extra: dict[str, object] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}


class InvalidInput(IpaiError):
    """The request is well-formed but its content is wrong (empty text, bad filter ...)."""

    status_code = 422
    title = "Invalid input"


class BadRequest(IpaiError):
    """The request cannot be parsed (malformed JSON, invalid UTF-8)."""

    status_code = 400
    title = "Bad request"


class Unauthorized(IpaiError):
    """Missing or bad credentials or signature."""

    status_code = 401
    title = "Unauthorized"


class Forbidden(IpaiError):
    """Valid credentials without the scope (or the right) the request needs."""

    status_code = 403
    title = "Forbidden"


class NotFound(IpaiError):
    status_code = 404
    title = "Not found"


class Conflict(IpaiError):
    status_code = 409
    title = "Conflict"


class PayloadTooLarge(IpaiError):
    status_code = 413
    title = "Payload too large"


class TooManyRequests(IpaiError):
    """A key sent more requests than its rate limit allows; retry after `retry_after` seconds."""

    status_code = 429
    title = "Too many requests"


class UnsupportedMediaType(IpaiError):
    status_code = 415
    title = "Unsupported media type"


class UpstreamError(IpaiError):
    """A model server failed after retries."""

    status_code = 503
    title = "Upstream unavailable"


class DatabaseUnavailable(IpaiError):
    status_code = 503
    title = "Database unavailable"


class ConfigurationError(IpaiError):
    """The deployment is missing something (an extension, a package, a setting)."""

    status_code = 500
    title = "Configuration error"


class MissingExtension(ConfigurationError):
    """A required PostgreSQL extension is not available on the server."""
