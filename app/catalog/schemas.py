"""Request and response contracts of the catalog API."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from app.catalog.fqdn import FQDN_SCHEMA
from app.params import NonBlank, stated

FqdnText = Annotated[str, stated(**FQDN_SCHEMA)]


class AssetIn(msgspec.Struct, forbid_unknown_fields=True):
    """An asset to register under the FQDN in the path (same FQDN again = update)."""

    type: Annotated[NonBlank, stated("e.g. table, view, odoo_model, analytics_view")]
    metadata: dict[str, Any] = {}
    owner: str | None = None
    tags: list[str] = []


class AssetOut(msgspec.Struct):
    fqdn: str
    type: str
    system: str
    db: str
    model: str
    metadata: dict[str, Any]
    owner: str | None
    tags: list[str]
    status: str
    registered_by: str | None
    registered_at: datetime
    updated_at: datetime
    score: float | None = None


class AssetPage(msgspec.Struct):
    items: list[AssetOut]
    next_cursor: str | None = None
    offset: int | None = None


class LinkIn(msgspec.Struct, forbid_unknown_fields=True):
    from_fqdn: FqdnText
    to_fqdn: FqdnText
    relation: str = "feeds"


class Edge(msgspec.Struct):
    from_fqdn: str
    to_fqdn: str
    relation: str
    depth: int


class LineageOut(msgspec.Struct):
    fqdn: str
    direction: Literal["up", "down"]
    depth: int
    edges: list[Edge]


class SyncOut(msgspec.Struct):
    scopes: dict[str, dict[str, int]]
