"""The one error hierarchy, transport-neutral: ingest/, retrieval/ and the database layer raise these without
knowing of HTTP; app/problems.py maps each class to a status code and a problem-details body."""
from __future__ import annotations


class IpaiError(Exception):
    """Base of every error the service raises on purpose. detail says what was wrong and how to fix it."""

    title = "Internal error"

    def __init__(self, detail: str, *, extra: dict[str, object] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}


class InvalidInput(IpaiError):
    """The request is well-formed but its content is wrong (empty text, bad filter ...)."""

    title = "Invalid input"


class BadRequest(IpaiError):
    """The request cannot be parsed (malformed JSON, invalid UTF-8)."""

    title = "Bad request"


class Unauthorized(IpaiError):
    """Missing or bad credentials or signature."""

    title = "Unauthorized"


class Forbidden(IpaiError):
    """Valid credentials without the scope (or the right) the request needs."""

    title = "Forbidden"


class NotFound(IpaiError):
    title = "Not found"


class Conflict(IpaiError):
    title = "Conflict"


class PayloadTooLarge(IpaiError):
    """A body, a file once decompressed, or a question is larger than allowed."""

    title = "Payload too large"


class RangeNotSatisfiable(IpaiError):
    """A byte range that starts past the end of what was asked for."""

    title = "Range not satisfiable"

    def __init__(self, detail: str, *, size: int) -> None:
        super().__init__(detail)
        self.size = size


class TooManyRequests(IpaiError):
    """A caller sent more requests than its rate limit allows; it may retry after `retry_after` seconds."""

    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: float, extra: dict[str, object] | None = None) -> None:
        super().__init__(detail, extra=extra)
        self.retry_after = retry_after


class UnsupportedMediaType(IpaiError):
    title = "Unsupported media type"


class UpstreamError(IpaiError):
    """A model server failed after retries."""

    title = "Upstream unavailable"


class ConfigurationError(IpaiError):
    """The deployment is missing something (an extension, a package, a setting)."""

    title = "Configuration error"


class MissingExtension(ConfigurationError):
    """A required PostgreSQL extension is not available on the server."""
