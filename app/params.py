"""Bounds of request parameters and body fields, so that a value the database or an upstream would refuse
is a 4xx that says why (ids beyond bigint, versions beyond integer, empty names, URLs that are not http)."""
from __future__ import annotations

from typing import Annotated, Any

import msgspec

from ingest.pipeline import ISO_LANGUAGES

NO_NUL = r"^[^\u0000]*$"
"""No PostgreSQL text or jsonb can hold the NUL character: every string of a request body says so."""

BIGINT_MAX = 2**63 - 1
INTEGER_MAX = 2**31 - 1


def row_id(description: str | None = None, *, ge: int = 1, **parameter: Any) -> Any:
    """A path or query parameter holding a bigint row id: ge (1) to 2^63 - 1 (the schema states the maximum as
    an integer: Litestar writes it as a float, 2^63, one past it)."""
    from litestar.params import Parameter  # here: the body types of this module are read without Litestar (CLI)

    return Parameter(ge=ge, le=BIGINT_MAX, description=description, schema_extra={"maximum": BIGINT_MAX},
                     **parameter)


def stated(description: str, **rules: Any) -> msgspec.Meta:
    """A rule the handler checks itself, so that its 422 says what was wrong in its own words: stated in the
    JSON Schema only (clients and /docs see it; decoding does not apply it)."""
    return msgspec.Meta(description=description, extra_json_schema=rules)


_REQUIRED = object()


def stated_param(description: str, *, default: Any = _REQUIRED, **rules: Any) -> Any:
    """The same for a path or query parameter (a query parameter may have a default)."""
    from litestar.params import Parameter
    from litestar.types import Empty

    return Parameter(description=description, schema_extra=rules, default=Empty if default is _REQUIRED else default)


RowId = Annotated[int, msgspec.Meta(ge=1, le=BIGINT_MAX)]
"""A bigint row id inside a JSON body."""
Version = Annotated[int, msgspec.Meta(ge=1, le=INTEGER_MAX)]
"""A version number (a PostgreSQL integer) inside a JSON body."""
Name = Annotated[str, msgspec.Meta(min_length=1)]
NOT_SPACE = r"[^\s\x1c-\x1f\x85]"
"""A character other than whitespace, as Python's str.strip sees it (JSON Schema's \\s omits \\x1c-\\x1f, \\x85)."""
NonBlank = Annotated[str, stated("text with a character other than whitespace", pattern=NOT_SPACE)]
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
HttpUrl = Annotated[str, msgspec.Meta(
    pattern=rf"^https?://{_LABEL}(\.{_LABEL})*(:{_PORT})?([/?#][!-~]*)?$",
    description="an http(s) URL: a host name or IPv4 address, an optional port and path, in ASCII (punycode)")]
LANGUAGES = sorted({*ISO_LANGUAGES, *ISO_LANGUAGES.values(), "simple"})
Language = Annotated[str, stated("an ISO 639-1 code or the name of a text search configuration", enum=LANGUAGES)]
"""A document's language (case does not matter; a configuration the database lacks is refused)."""
