"""/metrics: the service in the Prometheus text format (prometheus_client). Counters and histograms are
kept as events happen; what the database knows (jobs per queue and state, the oldest due job, the lexical
backlog) and the process' own state (pool, realtime subscribers) are read at each scrape.

With several worker processes serving one port, set PROMETHEUS_MULTIPROC_DIR (an empty directory per start):
each process writes its samples there and a scrape sums them (prometheus_client's multiprocess mode)."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

from sql.queries import q

if TYPE_CHECKING:
    from app.realtime.hub import Hub
    from app.services import Services

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter("ipai_http_requests_total", "HTTP requests by route template and status",
                        ["method", "route", "status"])
HTTP_DURATION = Histogram("ipai_http_request_duration_seconds", "HTTP request latency by route template",
                          ["method", "route"], buckets=_LATENCY)
SEARCH_DURATION = Histogram("ipai_search_duration_seconds", "Search latency by mode (REST, MCP and ask)",
                            ["mode"], buckets=_LATENCY)
SEARCH_STAGE_DURATION = Histogram(
    "ipai_search_stage_duration_seconds", "Time of each stage of a search in the database (terms, vector, lexical, "
    "trigram, fusion), for one search in eight", ["stage"], buckets=_LATENCY)
ANSWERS = Counter("ipai_answers_total", "Answers by outcome: answered (grounded), declined, error", ["outcome"])
WEBHOOKS = Counter("ipai_webhooks_total", "Webhook deliveries by source and result", ["source", "result"])
JOBS_DONE = Counter("ipai_jobs_completed_total", "Jobs this process completed, by queue", ["queue"])

QUEUE_JOBS = Gauge("ipai_queue_jobs", "Jobs by queue and state (every tenant)", ["queue", "state"],
                   multiprocess_mode="max")
QUEUE_OLDEST = Gauge("ipai_queue_oldest_due_seconds", "Age of the oldest due pending job by queue", ["queue"],
                     multiprocess_mode="max")
LEXICAL_BACKLOG = Gauge("ipai_lexical_backlog_chunks", "Chunks waiting for BM25 indexing after a bulk load",
                        multiprocess_mode="max")
POOL = Gauge("ipai_db_pool_connections", "The process' database pool: in use, idle, maximum", ["state"],
             multiprocess_mode="livesum")
SUBSCRIBERS = Gauge("ipai_realtime_subscribers", "Open realtime streams", multiprocess_mode="livesum")


async def render(services: Services, hub: Hub | None) -> bytes:
    """The scrape: refresh the gauges, then every metric of this process (or of all, in multiprocess mode)."""
    QUEUE_JOBS.clear()
    QUEUE_OLDEST.clear()
    oldest: dict[str, float] = {}
    for row in await services.db.pool.fetch(q("service_metrics")):
        if row["queue"] == "lexical-backlog":
            LEXICAL_BACKLOG.set(row["jobs"])
            continue
        QUEUE_JOBS.labels(row["queue"], row["status"]).set(row["jobs"])
        oldest[row["queue"]] = max(oldest.get(row["queue"], 0.0), row["oldest_due_seconds"])
    for queue, seconds in oldest.items():
        QUEUE_OLDEST.labels(queue).set(seconds)
    pool = services.db.pool
    POOL.labels("in_use").set(pool.get_size() - pool.get_idle_size())
    POOL.labels("idle").set(pool.get_idle_size())
    POOL.labels("max").set(pool.get_max_size())
    SUBSCRIBERS.set(hub.subscribers if hub is not None else 0)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


def observe_search_stages(milliseconds: dict[str, float]) -> None:
    """A sampled search's stage times (HybridRetriever's observe_stages)."""
    for stage, ms in milliseconds.items():
        SEARCH_STAGE_DURATION.labels(stage).observe(ms / 1000)
