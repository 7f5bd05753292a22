"""Bounds of request parameters and body fields, so that a value the database or an upstream would refuse
is a 4xx that says why (ids beyond bigint, versions beyond integer, empty names, URLs that are not http)."""
from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar.params import Parameter

BIGINT_MAX = 2**63 - 1
INTEGER_MAX = 2**31 - 1


def row_id(description: str | None = None) -> Any:
    """A path or query parameter holding a bigint row id: 1 to 2^63 - 1."""
    return Parameter(ge=1, le=BIGINT_MAX, description=description)


RowId = Annotated[int, msgspec.Meta(ge=1, le=BIGINT_MAX)]
"""A bigint row id inside a JSON body."""
Version = Annotated[int, msgspec.Meta(ge=1, le=INTEGER_MAX)]
"""A version number (a PostgreSQL integer) inside a JSON body."""
Name = Annotated[str, msgspec.Meta(min_length=1)]
HttpUrl = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s/?#]+\S*$", description="an http(s) URL")]
