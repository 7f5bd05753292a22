"""Scheduled jobs: due cron entries (in their own time zone) become outbound webhook deliveries on the
queue, signed like inbound webhooks and retried with backoff until they land or are dead-lettered."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from datetime import datetime, UTC
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from croniter import croniter

from app.odoo.handlers import ChangeHandlers
from app.odoo.jsonrpc import OdooClient, OdooConnection
from app.odoo.pull import pull
from app.odoo.secrets import ODOO_PASSWORD, OUTBOUND_SECRET
from app.odoo.mail import send_mail
from app.odoo.monitors import MONITORS
from app.odoo.routing import outbound_queue
from app.odoo.signatures import sign
from sql.queue import Job, Worker
from app.services import Services
from sql.queries import q

log = logging.getLogger(__name__)
DUE = q("scheduled_jobs_due")


def next_run(cron: str, tz: str, after: datetime) -> datetime:
    """The first time after `after` that the cron expression names, read in the job's time zone."""
    local = after.astimezone(ZoneInfo(tz))
    return croniter(cron, local).get_next(datetime).astimezone(UTC)


async def prune(conn: asyncpg.Connection, days: int, audit_days: int) -> dict[str, int]:
    """Drop realtime messages and finished jobs older than `days` in every tenant (dead letters stay), and
    audit rows (webhook ledger log, vault reads) older than `audit_days`."""
    row = await conn.fetchrow(q("prune_stale"), days)
    audit = await conn.fetchrow(q("prune_audit"), audit_days)
    log.info("stale-data cleanup: %d realtime messages, %d finished jobs older than %d days; %d ledger log and %d "
             "vault audit rows older than %d days", row["realtime_events"], row["jobs"], days, audit["event_log"],
             audit["audit_log"], audit_days)
    return {**dict(row), **dict(audit)}


class Scheduler:
    def __init__(self, services: Services, *, tick_seconds: float = 30.0, retention_days: int = 30) -> None:
        self.services = services
        self.retention_days = retention_days
        self.audit_retention_days = services.settings.odoo.audit_retention_days
        self.queue = outbound_queue(services)
        self.tick_seconds = tick_seconds

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Enqueue the deliveries of every due job and move each to its next run; returns their names."""
        now = now or datetime.now(UTC)
        fired = []
        for tenant_id in await self.services.db.pool.fetchval(q("schedule_tenants")):
            fired += await self._tick_tenant(tenant_id, now)
        return fired

    async def _tick_tenant(self, tenant_id: str, now: datetime) -> list[str]:
        settings = self.services.settings.odoo
        fired = []
        async with self.services.db.tenant(tenant_id).acquire() as conn:
            for job in await conn.fetch(DUE, now):
                if job["next_run_at"] is not None:  # a first sighting only schedules
                    url = job["webhook_url"] or settings.outbound_url
                    payload = {"job": job["name"], "scheduled_for": job["next_run_at"].isoformat(),
                               "action": job["action"], "url": url}
                    await self.queue.enqueue(conn, "scheduled_job", payload, tenant_id=job["tenant_id"])
                    fired.append(job["name"])
                await conn.execute(q("scheduled_job_ran"),
                                   job["name"], next_run(job["cron"], job["timezone"], now),
                                   job["next_run_at"] is not None, now)
        return fired

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("scheduler tick failed: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.tick_seconds)
            except TimeoutError:
                pass

    def delivery_worker(self, http: httpx.AsyncClient, handlers: ChangeHandlers | None = None,
                        **kwargs: object) -> Worker:
        """Runs due jobs: outbound deliveries, or pulls of a model from every registered instance."""
        settings = self.services.settings.odoo
        handlers = handlers or ChangeHandlers(self.services, settings.kb_models)

        async def run_job(conn: asyncpg.Connection, jobs: Sequence[Job]) -> None:
            for job in jobs:
                action = job.payload.get("action", "webhook")
                if action == "route":
                    await self._deliver_route(conn, http, job, await self.services.secret(
                        job.tenant_id, OUTBOUND_SECRET, settings.outbound_secret))
                    continue
                if action in MONITORS:
                    await MONITORS[action](self.services, conn, job.tenant_id)
                    continue
                if action.startswith("pull:"):
                    await self._pull_all(http, handlers, job.tenant_id, action.removeprefix("pull:"))
                    continue
                if action == "cleanup":
                    await prune(conn, self.retention_days, self.audit_retention_days)
                    await self.services.storage.expire()
                    await self.services.storage.sweep()
                await self._deliver(http, job, await self.services.secret(job.tenant_id, OUTBOUND_SECRET,
                                                                          settings.outbound_secret))

        # One job per batch: each is a call to a receiver, and a failed batch would call the others again.
        kwargs.setdefault("batch_size", 1)
        return Worker(self.queue, run_job, on_failure=self._route_failed, **kwargs)  # type: ignore[arg-type]

    async def _deliver_route(self, conn: asyncpg.Connection, http: httpx.AsyncClient, job: Job, secret: str) -> None:
        """One delivery along a route, signed like the inbound webhooks; a non-2xx answer is retried (the
        receiver dedupes by x-ipai-delivery). A mailto: route sends an email instead."""
        if job.payload["url"].startswith("mailto:"):
            await asyncio.to_thread(send_mail, self.services.settings.odoo, job.payload["url"].removeprefix("mailto:"),
                                    job.payload["body"])
            await conn.execute(q("route_delivery_result"), job.payload["delivery"], "delivered", 250, None)
            return
        body = json.dumps(job.payload["body"]).encode()
        ts = int(time.time())
        headers = {"content-type": "application/json", "x-ipai-timestamp": str(ts),
                   "x-ipai-signature": sign(secret, ts, body) if secret else "",
                   "x-ipai-delivery": job.payload["delivery"], "x-ipai-route": job.payload["route"],
                   "x-ipai-event-type": job.payload["event_type"]}
        try:
            response = await http.post(job.payload["url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RuntimeError(f"{type(exc).__name__} calling the route's receiver") from exc
        if response.status_code >= 300:
            raise RuntimeError(f"the route's receiver answered {response.status_code}")
        await conn.execute(q("route_delivery_result"), job.payload["delivery"], "delivered", response.status_code, None)

    async def _route_failed(self, job: Job, status: str, error: str) -> None:
        """A failed attempt (retried later) or a dead-lettered delivery, recorded on the delivery."""
        if job.payload.get("action") != "route":
            return
        answered = int(error.rsplit(" ", 1)[-1]) if error.rsplit(" ", 1)[-1].isdigit() else None
        await self.services.db.tenant(job.tenant_id).execute(
            q("route_delivery_result"), job.payload["delivery"], "dead" if status == "dead" else "failed", answered,
            error[:500])

    async def _deliver(self, http: httpx.AsyncClient, job: Job, secret: str) -> None:
        url = job.payload.get("url")
        if not url:
            log.info("scheduled job %s ran with no outbound URL configured", job.payload.get("job"))
            return
        body = json.dumps({k: v for k, v in job.payload.items() if k != "url"}).encode()
        ts = int(time.time())
        response = await http.post(url, content=body, headers={
            "content-type": "application/json", "x-ipai-timestamp": str(ts),
            "x-ipai-signature": sign(secret, ts, body) if secret else ""})
        if response.status_code >= 300:
            raise RuntimeError(f"{url} answered {response.status_code}")

    async def _pull_all(self, http: httpx.AsyncClient, handlers: ChangeHandlers, tenant_id: str, model: str) -> None:
        """Pull a model from every instance of the tenant that owns the scheduled job."""
        settings = self.services.settings.odoo
        password = await self.services.secret(tenant_id, ODOO_PASSWORD, settings.password)
        for instance in await self.services.db.tenant(tenant_id).fetch(
                q("odoo_instances_of_tenant")):
            client = OdooClient(OdooConnection(instance["base_url"], instance["database"], settings.user,
                                               password), http)
            result = await pull(self.services, handlers, client, instance, model)
            log.info("scheduled pull of %s from %s: %d records", model, instance["name"], result["applied"])
