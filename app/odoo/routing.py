"""Event routing (workflow-trigger): the routes an event matches each get one signed outbound delivery through
the outbound queue, in the transaction that processes the event (so each route delivers an event exactly once,
however often it is processed or replayed)."""
from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.odoo.github import summary
from app.services import Services
from sql.queries import q
from sql.errors import NotFound
from sql.queue import Queue

OUTBOUND_QUEUE = "outbound"
OUTBOUND_ATTEMPTS = 6
SOURCES = ("odoo", "github", "database", "schedule")


def outbound_queue(services: Services) -> Queue:
    return Queue(services.db, OUTBOUND_QUEUE, max_attempts=OUTBOUND_ATTEMPTS)


async def route_event(conn: asyncpg.Connection | Any, queue: Queue, *, tenant_id: str, source: str, event_row: int,
                      event_type: str, aggregate_type: str, aggregate_id: str, payload: dict[str, Any],
                      instance: str | None = None) -> list[str]:
    """Enqueue a delivery for each route the event matches (once per route); the names of the routes."""
    routed = []
    for route in await conn.fetch(q("routes_matching"), source, event_type, aggregate_type, payload):
        delivery = str(uuid.uuid4())
        if await conn.fetchval(q("route_delivery_add"), tenant_id, route["id"], route["name"], event_row, delivery,
                               route["url"]) is None:
            continue  # this route has the event already
        body = {"delivery_id": delivery, "route": route["name"], "source": source, "event_type": event_type,
                "aggregate_type": aggregate_type, "aggregate_id": aggregate_id, "instance": instance,
                "event": event_row, "payload": payload}
        if source == "github":
            body["summary"] = summary(event_type, payload)
        await queue.enqueue(conn, "route", {"action": "route", "delivery": delivery, "url": route["url"],
                                            "body": body}, tenant_id=tenant_id, dedupe_key=f"route:{delivery}")
        routed.append(route["name"])
    return routed


class Routes:
    """A tenant's routes and deliveries (the REST API and the CLI share it)."""

    def __init__(self, services: Services, tenant_id: str) -> None:
        self.services = services
        self.tenant_id = tenant_id
        self.db = services.db.tenant(tenant_id)

    async def list(self) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.db.fetch(q("routes_list"))]

    async def put(self, name: str, *, source: str, url: str, event_type: str = "*", aggregate_type: str = "*",
                  predicate: dict[str, Any] | None = None, enabled: bool = True) -> tuple[dict[str, Any], bool]:
        """The route as stored, and whether it is new."""
        inserted = await self.db.fetchval(q("route_put"), self.tenant_id, name, source, event_type, aggregate_type,
                                          predicate or {}, url, enabled)
        return next(r for r in await self.list() if r["name"] == name), bool(inserted)

    async def delete(self, name: str) -> None:
        if await self.db.fetchval(q("route_delete"), name) is None:
            raise NotFound(f"no route {name!r}")

    async def match(self, source: str, event_type: str, aggregate_type: str, payload: dict[str, Any]) -> list[str]:
        return [r["name"] for r in await self.db.fetch(q("routes_matching"), source, event_type, aggregate_type,
                                                        payload)]

    async def deliveries(self, route: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.db.fetch(q("route_deliveries"), route, limit)]

    async def replay(self, delivery_id: str) -> None:
        queue = outbound_queue(self.services)
        job = await self.db.fetchval(q("route_delivery_dead_job"), queue.name, delivery_id.lower())
        if job is None or not await queue.replay(self.tenant_id, job):
            raise NotFound(f"delivery {delivery_id} is not dead-lettered")
