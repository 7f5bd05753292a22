"""The bodies of /v1/routes (and of `ipai-rag routes put`): a route, the dry run of an event, a delivery."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from app.odoo.routing import SOURCES
from app.params import HttpUrl

Source = Literal["odoo", "github", "database", "schedule"]
assert set(Source.__args__) == set(SOURCES)  # type: ignore[attr-defined]
Destination = Annotated[str, msgspec.Meta(
    pattern=rf"(?:{HttpUrl.__metadata__[0].pattern})|^mailto:[^\s@,;<>]+@[A-Za-z0-9.\-]+$",
    description="an http(s) URL, or mailto:address (an email alert)")]
EventName = Annotated[str, msgspec.Meta(description="an event type ('pull_request.opened', 'write', ...) or '*'",
                                        pattern=r"^[A-Za-z0-9_.:*\-]{1,100}$")]


class RouteIn(msgspec.Struct, forbid_unknown_fields=True):
    """A route: an http(s) URL takes the event as JSON or a Slack message (format); a mailto: address an email."""

    source: Source
    url: Destination
    event_type: EventName = "*"
    aggregate_type: Annotated[str, msgspec.Meta(description="an aggregate type ('account.move', 'github.repository') "
                                                "or '*'", pattern=r"^[A-Za-z0-9_.:*\-]{1,100}$")] = "*"
    predicate: dict[str, Any] = {}
    """A JSON object the event's payload must contain (e.g. {"state": "posted"})."""
    format: Literal["json", "slack"] = "json"
    """For an http(s) URL: json, the event as JSON; slack, a Slack incoming-webhook message."""
    severity: Literal["info", "warning", "critical"] = "info"
    quiet_seconds: Annotated[int, msgspec.Meta(ge=0, le=604_800, description=(
        "after a delivery, the same event (type and aggregate) is not sent again for this long: a flapping "
        "check alerts once"))] = 0
    enabled: bool = True


class RouteOut(msgspec.Struct):
    name: str
    source: str
    event_type: str
    aggregate_type: str
    predicate: dict[str, Any]
    url: str
    format: str
    severity: str
    quiet_seconds: int
    enabled: bool
    created_at: datetime
    updated_at: datetime


class MatchIn(msgspec.Struct, forbid_unknown_fields=True):
    source: Source
    event_type: Annotated[str, msgspec.Meta(description="the event's type", min_length=1, max_length=100)]
    aggregate_type: Annotated[str, msgspec.Meta(description="the event's aggregate type (empty: only routes for any)",
                                                max_length=100)] = ""
    payload: dict[str, Any] = {}


class MatchOut(msgspec.Struct):
    routes: list[str]


class DeliveryOut(msgspec.Struct):
    id: int
    route_name: str
    event_row: int
    delivery_id: str
    url: str
    status: str
    attempts: int
    response_status: int | None
    error: str | None
    created_at: datetime
    delivered_at: datetime | None
