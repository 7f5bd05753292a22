"""GET /v1/realtime/{channel} (SSE) and POST /v1/realtime/{channel} (publish)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import ServerSentEvent, ServerSentEventMessage

from app.realtime.hub import Hub, Subscription
from app.security.keys import Principal
from sql.db import Db
from sql.queries import q
from sql.values import check_json
from sql.errors import InvalidInput
from app.params import stated_param
from app.services import Services

CHANNELS = ("jobs", "approvals", "notifications", "odoo-sync", "documents")
ChannelPath = Annotated[str, stated_param("a channel", enum=list(CHANNELS))]
KEEPALIVE_SECONDS = 15.0


class PublishIn(msgspec.Struct, forbid_unknown_fields=True):
    payload: dict[str, Any]


def check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {channel!r}; channels: {', '.join(CHANNELS)}")


async def channel_events(hub: Hub, subscription: Subscription, db: Db, last_id: int | None
                         ) -> AsyncIterator[ServerSentEventMessage]:
    """Missed messages first (after Last-Event-ID), then live ones as the hub's NOTIFY announces them; every read
    is a short transaction of the tenant on a pooled connection."""
    tenant = db.tenant(subscription.tenant_id)
    channel = subscription.channel
    try:
        await hub.listening()  # before reading, so nothing falls in between
        if last_id is None:
            last_id = await tenant.fetchval(q("realtime_last_id"), subscription.tenant_id, channel)
        yield ServerSentEventMessage(comment=f"channel {channel}", retry=2000)
        while True:
            subscription.wake.clear()
            for row in await tenant.fetch(q("realtime_missed"), subscription.tenant_id, channel, last_id):
                last_id = row["id"]
                yield ServerSentEventMessage(data=row["data"], event=channel, id=str(row["id"]))
            try:
                await asyncio.wait_for(subscription.wake.wait(), timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                await hub.listening()
                yield ServerSentEventMessage(comment="keepalive")
    finally:
        hub.unsubscribe(subscription)


def subscribe(request: Request, services: Services, tenant_id: str, principal: Principal,
              channel: str) -> ServerSentEvent:
    """A stream of one of the tenant's channels, from after Last-Event-ID (else from now)."""
    raw = request.headers.get("last-event-id")
    try:
        last_id = int(raw) if raw else None
    except ValueError as exc:
        raise InvalidInput("Last-Event-ID must be the id of an event of this channel") from exc
    hub: Hub = request.app.state.hub
    caller = principal.key_id or f"jwt:{tenant_id}:{principal.user_id}"
    subscription = hub.subscribe(caller, tenant_id, channel)  # 429 past a cap, before the stream starts
    return ServerSentEvent(channel_events(hub, subscription, services.db, last_id))


class RealtimeController(Controller):
    path = "/v1/realtime"
    tags = ["realtime"]

    @get("/{channel:str}", operation_id="realtime", opt={"scope": "sync", "streams": CHANNELS, "stream_only": True})
    async def subscribe(self, request: Request, services: Services, tenant_id: str, principal: Principal,
                        channel: ChannelPath) -> ServerSentEvent:
        """Server-Sent Events of a channel; send Last-Event-ID to receive what was missed."""
        check_channel(channel)
        return subscribe(request, services, tenant_id, principal, channel)

    @post("/{channel:str}", operation_id="publish", status_code=201, opt={"scope": "sync"})
    async def publish(self, data: PublishIn, services: Services, tenant_id: str,
                      channel: ChannelPath) -> dict[str, int]:
        """Publish a message on a channel (approvals, notifications ...)."""
        check_channel(channel)
        row_id = await services.db.tenant(tenant_id).fetchval(q("realtime_publish"), tenant_id, channel,
                                                               check_json(data.payload, "payload"))
        return {"id": row_id}
