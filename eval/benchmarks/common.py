"""Benchmark plumbing: a throw-away database on the configured server, timing and memory helpers."""
from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import AsyncIterator

from sql.db import Database
from sql.db import scratch_database as migrated_scratch
from app.settings import Settings


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_busy_seconds() -> float | None:
    """CPU-seconds this machine has been busy since boot, all processes and cores (Linux /proc/stat: every
    state but idle and iowait); None elsewhere. The difference over a stretch shows how much of the
    machine it used, the database server's processes included."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class Timer:
    def __init__(self) -> None:
        self.seconds = 0.0

    @contextlib.contextmanager
    def __call__(self):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - started


@contextlib.asynccontextmanager
async def scratch_database(settings: Settings, name: str) -> AsyncIterator[str]:
    """A new migrated database on the configured server, dropped afterwards."""
    database = Database.start(settings.database.url, settings.database.data_dir)
    try:
        async with migrated_scratch(database.url, name) as url:
            yield url
    finally:
        database.stop()
