"""/v1/routes: a tenant's event routes (workflow-trigger), a dry run of which routes an event matches, the
deliveries with what each receiver answered, and the replay of a dead-lettered delivery."""
from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from litestar.response import Response

from app.odoo.route_schemas import DeliveryOut, MatchIn, MatchOut, RouteIn, RouteOut
from app.odoo.routing import Routes
from app.params import stated_param
from app.services import Services

RouteName = Annotated[str, Parameter(description="the route's name: 1-100 letters, digits, '_', '.' or '-'",
                                     pattern=r"^[A-Za-z0-9_.\-]{1,100}$")]


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
