"""One LISTEN connection per process, shared by everything in it that waits on PostgreSQL's NOTIFY (realtime
streams, changes to API keys). Each channel names what to do with a notification and what to do when the
connection was down (whatever was announced meanwhile is lost: re-read, forget). Once started, the listener
connects again by itself after the connection is lost."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

log = logging.getLogger(__name__)
RETRY_SECONDS = (0.2, 1.0, 5.0)
"""Waits before each attempt to connect again after a loss; the last one repeats while the database is down."""


@dataclass(frozen=True)
class _Channel:
    notified: Callable[[str], None]
    missed: Callable[[], None]


class Listener:
    """Connects when first needed (ensure), and again after the connection was lost: at the next ensure, or on
    its own once start() ran. A channel's `missed` runs when the connection is lost and when the channel starts
    being heard."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._channels: dict[str, _Channel] = {}
        self._conn: asyncpg.Connection | None = None
        self._listening: set[str] = set()
        self._connecting = asyncio.Lock()
        self._lost = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None

    @property
    def up(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def on(self, channel: str, notified: Callable[[str], None], missed: Callable[[], None]) -> None:
        """Listen to a channel from the next ensure() on."""
        self._channels[channel] = _Channel(notified, missed)

    def hears(self, channel: str) -> bool:
        """Whether the connection is up and LISTENs on the channel."""
        return self.up and channel in self._listening

    async def start(self) -> None:
        """Listen on the channels registered so far (a failure is logged) and keep listening: after a loss the
        listener connects again, first at once, then every few seconds while the database is unreachable."""
        if self._keeper is not None or not self._channels:
            return
        try:
            await self.ensure()
        except (TimeoutError, OSError, asyncpg.PostgresError):
            self._lost.set()  # the keeper tries again at once, and logs it if that fails too
        self._keeper = asyncio.create_task(self._keep())

    async def ensure(self) -> None:
        """LISTEN on every channel, connecting first if need be; connection errors propagate. `missed` runs for
        each channel that was not heard until now, once it is."""
        if self.up and self._listening == set(self._channels):
            return
        async with self._connecting:
            if not self.up:
                conn = await asyncpg.connect(self.url, timeout=10)
                conn.add_termination_listener(self._missed)
                self._conn, self._listening = conn, set()
            assert self._conn is not None
            for name, channel in list(self._channels.items()):
                if name not in self._listening:
                    await self._conn.add_listener(name, self._dispatch)
                    self._listening.add(name)
                    channel.missed()

    async def _keep(self) -> None:
        attempt = 0
        while True:
            await self._lost.wait()
            if attempt:
                await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS)) - 1])
            try:
                await self.ensure()
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                if attempt == 0:
                    log.warning("LISTEN connection down (realtime streams and the API key cache wait); "
                                "connecting again: %s", exc)
                attempt += 1
                continue
            attempt = 0
            self._lost.clear()
            if not self.up:  # lost again while connecting: its termination set the event before the clear
                self._lost.set()

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        handler = self._channels.get(channel)
        if handler is not None:
            handler.notified(payload)

    def _missed(self, _conn: object) -> None:
        self._lost.set()
        for channel in self._channels.values():
            channel.missed()

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=5)
            self._conn = None
