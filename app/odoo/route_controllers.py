"""/v1/routes: a tenant's event routes (workflow-trigger), a dry run of which routes an event matches, the
deliveries with what each receiver answered, and the replay of a dead-lettered delivery."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from litestar.response import Response

from app.odoo.routing import SOURCES, Routes
from app.params import HttpUrl, stated_param
from app.services import Services

Source = Literal["odoo", "github", "database", "schedule"]
assert set(Source.__args__) == set(SOURCES)  # type: ignore[attr-defined]
Destination = Annotated[str, msgspec.Meta(
    pattern=rf"(?:{HttpUrl.__metadata__[0].pattern})|^mailto:[^\s@,;<>]+@[A-Za-z0-9.\-]+$",
    description="an http(s) URL, or mailto:address (an email alert)")]
RouteName = Annotated[str, Parameter(description="the route's name: 1-100 letters, digits, '_', '.' or '-'",
                                     pattern=r"^[A-Za-z0-9_.\-]{1,100}$")]
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


class RoutesController(Controller):
    path = "/v1/routes"
    tags = ["routes"]

    @get("", operation_id="listRoutes", opt={"scope": "sync"})
    async def list_routes(self, services: Services, tenant_id: str) -> list[RouteOut]:
        """The tenant's routes, by name."""
        return [RouteOut(**r) for r in await Routes(services, tenant_id).list()]

    @put("/{name:str}", operation_id="putRoute", opt={"scope": "sync"},
         responses={201: ResponseSpec(data_container=RouteOut, description="Created (200: replaced)")})
    async def put_route(self, data: RouteIn, services: Services, tenant_id: str, name: RouteName) -> Response[RouteOut]:
        """Create or replace a route (201 when new); it applies to the next event, no restart needed."""
        route, inserted = await Routes(services, tenant_id).put(name, **msgspec.structs.asdict(data))
        return Response(RouteOut(**route), status_code=201 if inserted else 200)

    @delete("/{name:str}", operation_id="deleteRoute", status_code=204, opt={"scope": "sync"})
    async def delete_route(self, services: Services, tenant_id: str, name: RouteName) -> None:
        """Delete a route; its deliveries keep their record."""
        await Routes(services, tenant_id).delete(name)

    @post("/match", operation_id="matchRoutes", status_code=200, opt={"scope": "sync"})
    async def match(self, data: MatchIn, services: Services, tenant_id: str) -> MatchOut:
        """Dry run: the routes an event would be delivered to (nothing is sent)."""
        return MatchOut(await Routes(services, tenant_id).match(data.source, data.event_type, data.aggregate_type,
                                                                data.payload))

    @get("/deliveries", operation_id="routeDeliveries", opt={"scope": "sync"})
    async def deliveries(self, services: Services, tenant_id: str, route: str | None = None,
                         limit: int = Parameter(default=50, ge=1, le=500)) -> list[DeliveryOut]:
        """The latest deliveries, newest first: status, attempts, the receiver's answer."""
        return [DeliveryOut(**r) for r in await Routes(services, tenant_id).deliveries(route, limit)]

    @post("/deliveries/{delivery_id:str}/replay", operation_id="replayDelivery", status_code=202,
          opt={"scope": "sync"})
    async def replay(self, services: Services, tenant_id: str,
                     delivery_id: Annotated[str, stated_param("a delivery id (a UUID)", pattern=r"^[0-9a-fA-F-]{36}$")]
                     ) -> dict[str, Any]:
        """Send a dead-lettered delivery again."""
        await Routes(services, tenant_id).replay(delivery_id)
        return {"delivery_id": delivery_id, "status": "pending"}
