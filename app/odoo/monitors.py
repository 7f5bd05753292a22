"""Monitors that act: scheduled checks whose findings become events when they change (drift appears or is
resolved; the service turns unhealthy or recovers), routed like every other event - an alert is a route with
a severity, a quiet period and, for Slack, its message format."""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from app.odoo.seed import drift
from app.services import Services
from sql.queries import q

MAX_LAG_SECONDS = 300.0
"""The health probe fails when the oldest due job waited longer than this, or the database does not answer."""


async def _changed(conn: asyncpg.Connection, tenant_id: str, monitor: str, finding: Any, healthy: bool) -> bool:
    """Record what the monitor sees; whether that is news: it differs from what it saw last (a first look that
    finds all well is not news)."""
    fingerprint = hashlib.sha256(json.dumps(finding, sort_keys=True, default=str).encode()).hexdigest()
    previous = await conn.fetchval(q("monitor_state"), monitor)
    if previous == fingerprint:
        return False
    await conn.execute(q("monitor_state_set"), tenant_id, monitor, fingerprint)
    return previous is not None or not healthy


async def drift_detector(services: Services, conn: asyncpg.Connection, tenant_id: str) -> str | None:
    """The Odoo drift views (missing, orphans, renamed): an event when they change - drift-detected with the
    counts and the first items, or drift-resolved once they are empty again."""
    found = await drift(conn, tenant_id)
    counts = {kind: len(rows) for kind, rows in found.items()}
    if not await _changed(conn, tenant_id, "drift", found, healthy=not any(counts.values())):
        return None
    kind = "drift-detected" if any(counts.values()) else "drift-resolved"
    sample = {k: rows[:20] for k, rows in found.items()}
    await conn.fetchval(q("system_event_emit"), tenant_id, "schedule", kind, "odoo.drift",
                        json.loads(json.dumps({"counts": counts, "items": sample}, default=str)))
    return kind


async def health_probe(services: Services, conn: asyncpg.Connection, tenant_id: str) -> str | None:
    """The /health check: an event when it turns failing (health-failed, with the reason) or recovers."""
    reason = ""
    try:
        started = time.perf_counter()
        row = await services.db.pool.fetchrow(q("health"), timeout=5)
        if row["queue_lag_seconds"] > MAX_LAG_SECONDS:
            reason = f"the oldest due job waited {row['queue_lag_seconds']:.0f} s (over {MAX_LAG_SECONDS:.0f} s)"
        elapsed = time.perf_counter() - started
    except Exception as exc:  # noqa: BLE001 - any failure is what the probe reports
        reason, elapsed = f"the database check failed: {type(exc).__name__}", 0.0
    state = "failing" if reason else "ok"
    if not await _changed(conn, tenant_id, "health", state, healthy=not reason):
        return None
    kind = "health-failed" if reason else "health-recovered"
    await conn.fetchval(q("system_event_emit"), tenant_id, "schedule", kind, "health",
                        {"reason": reason, "check_ms": round(elapsed * 1000, 1)})
    return kind


MONITORS: dict[str, Callable[[Services, asyncpg.Connection, str], Awaitable[str | None]]] = {
    "drift": drift_detector, "health": health_probe}
