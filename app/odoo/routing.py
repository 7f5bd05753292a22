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
                      instance: str | None = None, ledger: str = "webhook") -> list[str]:
    """Enqueue a delivery for each route the event matches (once per route and event; once per fingerprint in a
    route's quiet period); the names of the routes that take it. ledger: the table event_row is in."""
    routed = []
    fingerprint = f"{event_type}|{aggregate_type}|{aggregate_id}"
    for route in await conn.fetch(q("routes_matching"), source, event_type, aggregate_type, payload):
        delivery = str(uuid.uuid4())
        if await conn.fetchval(q("route_delivery_add"), tenant_id, route["id"], route["name"], ledger, event_row,
                               fingerprint, delivery, route["url"], route["quiet_seconds"]) is None:
            continue  # this route has the event already, or is quiet about it
        body: dict[str, Any] = {
            "delivery_id": delivery, "route": route["name"], "severity": route["severity"], "source": source,
            "event_type": event_type, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id,
            "instance": instance, "event": event_row, "payload": payload}
        if source == "github":
            body["summary"] = summary(event_type, payload)
        if route["format"] == "slack" and not route["url"].startswith("mailto:"):
            body = slack_message(body)
        await queue.enqueue(conn, "route", {"action": "route", "delivery": delivery, "url": route["url"],
                                            "route": route["name"], "event_type": event_type, "body": body},
                            tenant_id=tenant_id, dedupe_key=f"route:{delivery}")
        routed.append(route["name"])
    return routed


SEVERITY_MARK = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}


def slack_message(body: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message for an event (text, and the event's fields as a context line)."""
    what = f"{body['event_type']} on {body['aggregate_type']}"
    if body.get("aggregate_id"):
        what += f" {body['aggregate_id']}"
    detail = ", ".join(f"{k}: {v}" for k, v in list((body.get("payload") or {}).items())[:6]
                       if isinstance(v, (str, int, float, bool)))
    text = f"{SEVERITY_MARK.get(body['severity'], '')} [{body['severity']}] {body['route']}: {what}".strip()
    return {"text": text + (f"\n{detail}" if detail else ""),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                       {"type": "context", "elements": [{"type": "mrkdwn",
                                                         "text": f"delivery {body['delivery_id']}"}]}]}


class Routes:
    """A tenant's routes and deliveries (the REST API and the CLI share it)."""

    def __init__(self, services: Services, tenant_id: str) -> None:
        self.services = services
        self.tenant_id = tenant_id
        self.db = services.db.tenant(tenant_id)

    async def list(self) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.db.fetch(q("routes_list"))]

    async def put(self, name: str, *, source: str, url: str, event_type: str = "*", aggregate_type: str = "*",
                  predicate: dict[str, Any] | None = None, enabled: bool = True, format: str = "json",
                  severity: str = "info", quiet_seconds: int = 0) -> tuple[dict[str, Any], bool]:
        """The route as stored, and whether it is new."""
        row = dict(await self.db.fetchrow(q("route_put"), self.tenant_id, name, source, event_type, aggregate_type,
                                          predicate or {}, url, enabled, format, severity, quiet_seconds))
        return row, bool(row.pop("inserted"))

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
