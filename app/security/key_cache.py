"""The API keys this process has verified, held in memory so that a request's credentials cost no database round
trip. They are held only while the process's LISTEN connection (sql/listener.py) hears the channel ipai_api_keys,
where a trigger announces every change to a key (revoked, deleted, its scopes edited): a change drops the key at
once, on every replica. Without that connection (not up yet, lost: the listener connects again by itself) every
request looks its key up in the database, as without a cache."""
from __future__ import annotations

import time
from collections import OrderedDict

import asyncpg

from sql.listener import Listener

CHANNEL = "ipai_api_keys"


class KeyCache:
    """Key rows by their public prefix, each for at most `seconds`, at most `max_keys` of them (the least recently
    used go first). A lookup started before a change was announced is not stored (the generation moved on)."""

    def __init__(self, listener: Listener, seconds: float, max_keys: int = 10_000) -> None:
        self.listener = listener
        self.seconds = seconds
        self.max_keys = max_keys
        self.generation = 0
        """Moves on with every announced change and every loss of the connection."""
        self._rows: OrderedDict[str, tuple[asyncpg.Record, float]] = OrderedDict()
        if seconds > 0:
            listener.on(CHANNEL, self._forget, lambda: self._forget("*"))

    @property
    def listening(self) -> bool:
        return self.seconds > 0 and self.listener.hears(CHANNEL)

    def get(self, prefix: str) -> asyncpg.Record | None:
        held = self._rows.get(prefix)
        if held is None or not self.listening:
            return None
        if held[1] < time.monotonic():
            del self._rows[prefix]
            return None
        self._rows.move_to_end(prefix)
        return held[0]

    def put(self, prefix: str, row: asyncpg.Record, generation: int) -> None:
        """Hold a row read from the database, unless a change was announced since the read began (generation)."""
        if generation != self.generation or not self.listening:
            return
        self._rows[prefix] = (row, time.monotonic() + self.seconds)
        self._rows.move_to_end(prefix)
        while len(self._rows) > self.max_keys:
            self._rows.popitem(last=False)

    def _forget(self, prefix: str) -> None:
        self.generation += 1
        if prefix == "*":
            self._rows.clear()
        else:
            self._rows.pop(prefix, None)
