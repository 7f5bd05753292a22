"""One LISTEN connection per process, shared by everything in it that waits on PostgreSQL's NOTIFY (realtime
streams, changes to API keys). Each channel names what to do with a notification and what to do when the
connection was down (whatever was announced meanwhile is lost: re-read, forget)."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class _Channel:
    notified: Callable[[str], None]
    missed: Callable[[], None]


class Listener:
    """Connects when first needed (ensure), and again after the connection was lost; a channel's `missed` runs
    when the connection is lost and when the channel starts being heard."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._channels: dict[str, _Channel] = {}
        self._conn: asyncpg.Connection | None = None
        self._listening: set[str] = set()
        self._connecting = asyncio.Lock()

    @property
    def up(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def on(self, channel: str, notified: Callable[[str], None], missed: Callable[[], None]) -> None:
        """Listen to a channel from the next ensure() on."""
        self._channels[channel] = _Channel(notified, missed)

    def hears(self, channel: str) -> bool:
        """Whether the connection is up and LISTENs on the channel."""
        return self.up and channel in self._listening

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

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        handler = self._channels.get(channel)
        if handler is not None:
            handler.notified(payload)

    def _missed(self, _conn: object) -> None:
        for channel in self._channels.values():
            channel.missed()

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=5)
            self._conn = None
