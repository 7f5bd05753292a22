"""The process's LISTEN connection (sql/listener.py) fanned out to every Server-Sent Events subscriber of the
process, with a cap on streams per caller and per process: a flood of streams can no longer take the database's
connections."""
from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, field

from sql.errors import TooManyRequests
from sql.listener import Listener

log = logging.getLogger(__name__)
NOTIFY_CHANNEL = "ipai_realtime"


@dataclass(eq=False)
class Subscription:
    """One stream: what it listens to, and the event its reader waits on."""

    caller: str
    tenant_id: str
    channel: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Hub:
    """Subscribers register here; the process's listener hears the realtime channel and the hub sets the wake
    event of every subscriber a notification concerns (the subscriber then reads the new rows through the pool)."""

    def __init__(self, listener: Listener, *, max_streams: int, max_streams_per_caller: int) -> None:
        self.listener = listener
        self.max_streams = max_streams
        self.max_streams_per_caller = max_streams_per_caller
        self._subscriptions: set[Subscription] = set()
        self._per_caller: Counter[str] = Counter()
        listener.on(NOTIFY_CHANNEL, self._on_notify, self._wake_all)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def subscribe(self, caller: str, tenant_id: str, channel: str) -> Subscription:
        """Reserve a stream (429 past a cap); the caller must unsubscribe() when the stream ends."""
        if len(self._subscriptions) >= self.max_streams:
            raise TooManyRequests(f"this server holds its maximum of {self.max_streams} realtime streams; retry "
                                  "later", retry_after=5)
        if self._per_caller[caller] >= self.max_streams_per_caller:
            raise TooManyRequests(f"these credentials hold {self.max_streams_per_caller} realtime streams "
                                  "already; close one first", retry_after=5)
        subscription = Subscription(caller, tenant_id, channel)
        self._subscriptions.add(subscription)
        self._per_caller[caller] += 1
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.discard(subscription)
            self._per_caller[subscription.caller] -= 1
            if self._per_caller[subscription.caller] <= 0:
                del self._per_caller[subscription.caller]

    async def listening(self) -> None:
        """Make sure the process's LISTEN connection is up (again, after it was lost: every subscriber then
        re-reads)."""
        await self.listener.ensure()

    def _wake_all(self) -> None:
        for subscription in self._subscriptions:
            subscription.wake.set()

    def _on_notify(self, raw: str) -> None:
        try:
            note = json.loads(raw)
        except ValueError:
            log.warning("ignored a malformed realtime notification")
            return
        for subscription in self._subscriptions:
            if note.get("tenant_id") == subscription.tenant_id and note.get("channel") == subscription.channel:
                subscription.wake.set()
