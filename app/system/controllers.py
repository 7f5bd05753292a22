"""GET /health, GET /v1/jobs, POST /v1/jobs/{id}/replay."""
from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import Response

from sql.errors import NotFound
from app.params import row_id
from app.problems import problem
from sql.queue import queue_stats
from app.services import Services
from app.metrics import CONTENT_TYPE, render
from sql.queries import q


class Health(msgspec.Struct):
    status: str
    database: str
    server_version: str | None = None
    pgvector: str | None = None
    pg_trgm: str | None = None
    queue_lag_seconds: float | None = None
    jobs_waiting: int | None = None
    embedding_model: str | None = None


class JobsOut(msgspec.Struct):
    queues: dict[str, dict[str, int]]
    oldest_pending_seconds: float
    dead: list[dict[str, Any]]
    lexical_backlog: dict[str, float]
    """Chunks a bulk load stored whose BM25 indexing is pending, and the age of the oldest."""


class SystemController(Controller):
    tags = ["system"]

    @get("/health", operation_id="health", opt={"public": True})
    async def health(self, services: Services) -> Response:
        """Database reachable, pgvector version, queue lag."""
        try:
            row = await services.db.pool.fetchrow(q("health"), timeout=5)
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            return problem(503, "Database unavailable", f"health check failed: {type(exc).__name__}")
        body = Health(status="ok", database="reachable", embedding_model=services.embedder.name, **dict(row))
        return Response(content=body)

    @get("/metrics", operation_id="metrics", media_type=CONTENT_TYPE, opt={"scope": "metrics"})
    async def metrics(self, services: Services, request: Request) -> Response[bytes]:
        """The service in the Prometheus text format: requests, searches, answers, webhooks, queues, pool."""
        return Response(await render(services, getattr(request.app.state, "hub", None)), media_type=CONTENT_TYPE)

    @get("/livez", operation_id="live", opt={"public": True})
    async def live(self) -> dict[str, str]:
        """The process answers (no database call): a liveness probe and the benchmarks' baseline."""
        return {"status": "ok"}

    @get("/v1/jobs", operation_id="jobs", opt={"scope": "admin"})
    async def jobs(self, services: Services, tenant_id: str) -> JobsOut:
        """Queue counts by state, age of the oldest pending job, dead-lettered jobs, the lexical backlog."""
        return JobsOut(**await queue_stats(services.db.tenant(tenant_id)),
                       lexical_backlog=await services.pipeline.backlog.stats(tenant_id))

    @post("/v1/jobs/{job_id:int}/replay", operation_id="replayJob", status_code=202, opt={"scope": "admin"})
    async def replay(self, services: Services, tenant_id: str, job_id: int = row_id()) -> dict[str, Any]:
        """Send a dead-lettered job back to its queue."""
        if not await services.queue.replay(tenant_id, job_id):
            raise NotFound(f"job {job_id} is not dead-lettered in the embed queue")
        return {"id": job_id, "status": "pending"}
