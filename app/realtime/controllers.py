"""GET /v1/realtime/{channel} (SSE) and POST /v1/realtime/{channel} (publish)."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, get, post
from litestar.response import ServerSentEvent, ServerSentEventMessage

from sql.db import bind_tenant
from sql.errors import InvalidInput
from app.params import stated_param
from app.problems import read_body
from app.services import Services

CHANNELS = ("jobs", "approvals", "notifications", "odoo-sync")
ChannelPath = Annotated[str, stated_param("a channel", enum=list(CHANNELS))]
KEEPALIVE_SECONDS = 15.0
MISSED = """SELECT id, payload::text AS data FROM rag.realtime_events
             WHERE tenant_id = $1 AND channel = $2 AND id > $3 ORDER BY id LIMIT 1000"""


class PublishIn(msgspec.Struct, forbid_unknown_fields=True):
    payload: dict[str, Any]


def check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {channel!r}; channels: {', '.join(CHANNELS)}")


async def channel_events(url: str, tenant_id: str, channel: str, last_id: int | None
                         ) -> AsyncIterator[ServerSentEventMessage]:
    """Missed messages first (after Last-Event-ID), then live ones as NOTIFY announces them.

    A dedicated connection of the service role (LISTEN needs one); each read is a transaction of the tenant."""
    conn = await asyncpg.connect(url)
    wake: asyncio.Queue[None] = asyncio.Queue()

    def on_notify(_conn: object, _pid: int, _channel: str, raw: str) -> None:
        note = json.loads(raw)
        if note.get("tenant_id") == tenant_id and note.get("channel") == channel:
            wake.put_nowait(None)

    try:
        await conn.add_listener("ipai_realtime", on_notify)  # before reading, so nothing falls in between
        if last_id is None:
            async with bind_tenant(conn, tenant_id):
                last_id = await conn.fetchval(
                    "SELECT coalesce(max(id), 0) FROM rag.realtime_events WHERE tenant_id = $1 AND channel = $2",
                    tenant_id, channel)
        yield ServerSentEventMessage(comment=f"channel {channel}", retry=2000)
        while True:
            async with bind_tenant(conn, tenant_id):
                rows = await conn.fetch(MISSED, tenant_id, channel, last_id)
            for row in rows:
                last_id = row["id"]
                yield ServerSentEventMessage(data=row["data"], event=channel, id=str(row["id"]))
            try:
                await asyncio.wait_for(wake.get(), timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keepalive")
    finally:
        await conn.close()


class RealtimeController(Controller):
    path = "/v1/realtime"
    tags = ["realtime"]

    @get("/{channel:str}", operation_id="realtime", opt={"scope": "sync", "streams": CHANNELS, "stream_only": True})
    async def subscribe(self, request: Request, services: Services, tenant_id: str,
                        channel: ChannelPath) -> ServerSentEvent:
        """Server-Sent Events of a channel; send Last-Event-ID to receive what was missed."""
        check_channel(channel)
        raw = request.headers.get("last-event-id")
        try:
            last_id = int(raw) if raw else None
        except ValueError as exc:
            raise InvalidInput("Last-Event-ID must be the id of an event of this channel") from exc
        return ServerSentEvent(channel_events(services.db.url, tenant_id, channel, last_id))

    @post("/{channel:str}", operation_id="publish", status_code=201, opt={"scope": "sync", "body": PublishIn})
    async def publish(self, request: Request, services: Services, tenant_id: str,
                      channel: ChannelPath) -> dict[str, int]:
        """Publish a message on a channel (approvals, notifications ...)."""
        check_channel(channel)
        body = await read_body(request)
        row_id = await services.db.tenant(tenant_id).fetchval(
            "INSERT INTO rag.realtime_events (tenant_id, channel, payload) VALUES ($1, $2, $3) RETURNING id",
            tenant_id, channel, body.payload)
        return {"id": row_id}
