"""Webhook intake: signature, freshness, idempotency, the event ledger and its audit log; processing
through the job queue, where each event's effect and its status change commit together."""
from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from sql.errors import InvalidInput, IpaiError, NotFound, Unauthorized
from app.odoo.handlers import Change, ChangeHandlers
from app.odoo.secrets import webhook_secret
from app.odoo.signatures import verify, verify_github
from sql.db import Tenant
from sql.queue import Job, Queue, Worker
from app.services import Services
from app.odoo.github import GITHUB_AGGREGATE, event_type as github_event_type
from app.odoo.routing import outbound_queue, route_event
from app.problems import status_of
from app.metrics import WEBHOOKS
from sql.values import MAX_JSON_DEPTH, check_json, check_text
from sql.queries import q
from sql.values import TENANT_NAME

ODOO_QUEUE = "odoo"
MAX_BODY = 1024 * 1024
# Instances and their secrets are cached this long: a deactivated secret may still verify for as long.
INSTANCE_TTL_SECONDS = 5.0


class WebhookIn(msgspec.Struct):
    event_type: str
    aggregate_type: str
    aggregate_id: int | str
    payload: dict[str, Any] = {}
    event_id: str | None = None


GITHUB_REPLAY_SECONDS = 86_400
"""How long a GitHub body counts as seen: GitHub signs no timestamp, so a replay under a new delivery id is
recognised by its body."""
MAX_AUDIT_TEXT = 256
"""Longest reason, address or user agent stored in the ledger's log (8 KB headers stay in the request)."""
REJECTION_WINDOW_SECONDS = 60.0
MAX_REJECTION_KEYS = 10_000
MAX_NAME_LENGTH = 256
"""Longest event id (or GitHub delivery id), event type, aggregate type and id: names, indexed."""


def _cut(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_AUDIT_TEXT else text[:MAX_AUDIT_TEXT - 1] + "…"


def _decode_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"malformed JSON body: {exc}") from exc
    except RecursionError as exc:
        raise InvalidInput(f"{what} nests deeper than {MAX_JSON_DEPTH} levels") from exc
    if not isinstance(payload, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return payload


class Ledger:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.db = services.db
        self.queue = Queue(services.db, ODOO_QUEUE, max_attempts=5)
        self.outbound = outbound_queue(services)

    async def audit(self, conn: asyncpg.Connection | Tenant, *, tenant_id: str,
                    instance_id: int | None = None, event_row: int | None = None, kind: str, status: str | None = None,
                    reason: str | None = None, remote: str | None = None, agent: str | None = None,
                    repeated: int = 1) -> None:
        """One row of the append-only log; text from the request (reason, address, user agent) is cut to
        MAX_AUDIT_TEXT characters."""
        await conn.execute(q("odoo_audit"), tenant_id, instance_id, event_row, kind, status, _cut(reason),
                           _cut(remote), _cut(agent), repeated)

    async def instance(self, name: str | None, tenant: str | None = None, *, fresh: bool = False) -> dict[str, Any]:
        """The instance and its active webhook secrets (from the vault), cached for a few seconds per process.
        Names are per tenant: a delivery names its tenant (x-ipai-tenant; default the server's tenant)."""
        tenant_id = tenant or self.services.settings.server.tenant_id
        cache = self.services.memo.setdefault("odoo_instances", {})
        key = (tenant_id, name or "")
        cached = cache.get(key)
        if cached and not fresh and time.monotonic() - cached[0] < INSTANCE_TTL_SECONDS:
            return cached[1]
        row = None
        if name and TENANT_NAME.match(tenant_id):
            row = await self.db.tenant(tenant_id).fetchrow(q("odoo_instance"), name)
        if row is None:
            raise Unauthorized(f"unknown Odoo instance {name!r} of tenant {tenant_id[:64]!r}: name it with the "
                               "x-ipai-instance header (and its tenant with x-ipai-tenant)")
        instance = {**dict(row), "secrets": await self.services.vault.service_values(tenant_id, webhook_secret(name))}
        cache[key] = (time.monotonic(), instance)
        return instance

    async def reject(self, exc: IpaiError, instance: dict[str, Any] | None, remote: str | None,
                     agent: str | None) -> IpaiError:
        """Audit a refused delivery (under the default tenant when the instance is unknown): the same rejection
        from the same address is written at most once per REJECTION_WINDOW_SECONDS by this process, the row
        counting the rejections it stands for (a flood of bad requests cannot grow the log without bound)."""
        WEBHOOKS.labels("any", f"rejected {status_of(exc)}").inc()
        tenant_id = instance["tenant_id"] if instance else self.services.settings.server.tenant_id
        status = str(status_of(exc))
        key = (tenant_id, instance["id"] if instance else None, remote, status, exc.detail[:MAX_AUDIT_TEXT])
        windows = self.services.memo.setdefault("odoo_rejections", {})
        now = time.monotonic()
        opened, count = windows.get(key, (0.0, 0))
        if now - opened < REJECTION_WINDOW_SECONDS:
            windows[key] = (opened, count + 1)
            return exc
        if len(windows) > MAX_REJECTION_KEYS:
            windows.clear()
        windows[key] = (now, 0)
        await self.audit(self.db.tenant(tenant_id), tenant_id=tenant_id,
                         instance_id=instance["id"] if instance else None, kind="rejected", status=status,
                         reason=exc.detail, remote=remote, agent=agent, repeated=count + 1)
        return exc

    async def receive(self, instance_name: str | None, body: bytes, headers: dict[str, str], remote: str | None,
                      agent: str | None, *, github: bool = False, tenant: str | None = None
                      ) -> tuple[int, dict[str, Any]]:
        """Verify and store one delivery; 202 when new (after commit), 200 with the original id when seen."""
        instance = None
        try:
            instance = await self.instance(instance_name, tenant)
            try:
                self._verify(instance, headers, body, github)
            except Unauthorized:
                # A secret added a moment ago is not in the cache yet: look once more before refusing.
                instance = await self.instance(instance_name, tenant, fresh=True)
                self._verify(instance, headers, body, github)
            event = self._parse(body, headers, github)
        except IpaiError as exc:
            raise await self.reject(exc, instance, remote, agent) from exc
        event_id = event.event_id or f"sha256:{hashlib.sha256(body).hexdigest()}"
        tenant = self.db.tenant(instance["tenant_id"])
        if github:
            replay = await tenant.fetchrow(q("odoo_github_replay"), instance["id"], event.payload,
                                           GITHUB_REPLAY_SECONDS)
            if replay is not None:
                return await self._duplicate(tenant, instance, replay, remote, agent)
        row_id = await tenant.fetchval(
            q("odoo_receive"), instance["id"], instance["tenant_id"], "github" if github else "odoo", event_id,
            event.event_type, event.aggregate_type, str(event.aggregate_id), event.payload, remote, agent)
        if row_id is not None:
            WEBHOOKS.labels("github" if github else "odoo", "stored").inc()
            return 202, {"id": row_id, "status": "pending", "duplicate": False}
        original = await tenant.fetchrow(q("odoo_event_by_event_id"), instance["id"], event_id)
        return await self._duplicate(tenant, instance, original, remote, agent)

    async def _duplicate(self, tenant: Tenant, instance: dict[str, Any], original: Any, remote: str | None,
                         agent: str | None) -> tuple[int, dict[str, Any]]:
        """A delivery seen before: audited, answered with the original's id and status."""
        WEBHOOKS.labels(instance.get("source", "odoo"), "duplicate").inc()
        await self.audit(tenant, tenant_id=instance["tenant_id"], instance_id=instance["id"],
                         event_row=original["id"], kind="duplicate", status=original["status"], remote=remote,
                         agent=agent)
        return 200, {"id": original["id"], "status": original["status"], "duplicate": True}

    @staticmethod
    def _verify(instance: dict[str, Any], headers: dict[str, str], body: bytes, github: bool) -> None:
        if github:
            verify_github(instance["secrets"], headers.get("x-hub-signature-256"), body)
        else:
            verify(instance["secrets"], headers.get("x-ipai-timestamp"), headers.get("x-ipai-signature"), body,
                   time.time())

    @staticmethod
    def _parse(body: bytes, headers: dict[str, str], github: bool) -> WebhookIn:
        """The event a verified body carries; its identity and names short, its payload storable (no NUL,
        bounded depth)."""
        if github:
            payload = _decode_object(body, "a GitHub webhook body")
            repository = payload.get("repository")
            name = repository.get("full_name") if isinstance(repository, dict) else None
            event = WebhookIn(event_type=github_event_type(headers.get("x-github-event"), payload),
                              aggregate_type=GITHUB_AGGREGATE,
                              aggregate_id=name if isinstance(name, str) and name else "unknown", payload=payload,
                              event_id=headers.get("x-github-delivery"))
        else:
            try:
                event = msgspec.json.decode(body, type=WebhookIn)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                raise InvalidInput(f"the webhook body does not fit {{event_type, aggregate_type, aggregate_id, "
                                   f"payload, event_id?}}: {exc}") from exc
            except RecursionError as exc:
                raise InvalidInput(f"the webhook body nests deeper than {MAX_JSON_DEPTH} levels") from exc
            if not event.event_type.strip() or not event.aggregate_type.strip():
                raise InvalidInput("event_type and aggregate_type must not be empty")
        for what, value in (("event_type", event.event_type), ("aggregate_type", event.aggregate_type),
                            ("aggregate_id", str(event.aggregate_id)), ("event_id", event.event_id or "")):
            check_text(value, what, MAX_NAME_LENGTH)
        check_json(event.payload, "payload")
        return event

    # processing

    def worker(self, handlers: ChangeHandlers, **kwargs: Any) -> Worker:
        async def handle(conn: asyncpg.Connection, jobs: Sequence[Job]) -> None:
            for job in jobs:
                if job.kind == "system_event":
                    await self.process_system(conn, int(job.payload["system_event"]))
                else:
                    await self.process(conn, handlers, int(job.payload["event"]))

        return Worker(self.queue, handle, on_failure=self._failed, **kwargs)

    async def process(self, conn: asyncpg.Connection, handlers: ChangeHandlers, event_row: int) -> None:
        event = await conn.fetchrow(q("odoo_event_locked"), event_row)
        if event is None or event["status"] == "completed":
            return  # already done (e.g. a replayed job): exactly once
        record = dict(event["payload"])
        try:
            odoo_id = int(record.get("id") or event["aggregate_id"])
        except (TypeError, ValueError):
            odoo_id = 0
        change = Change(event["instance_id"], event["instance_name"], event["instance_db"], event["tenant_id"],
                        event["event_type"], event["aggregate_type"], odoo_id, record)
        outcome = await handlers.apply(conn, change)
        routed = await route_event(conn, self.outbound, tenant_id=event["tenant_id"], source=event["source"],
                                   event_row=event_row, event_type=event["event_type"],
                                   aggregate_type=event["aggregate_type"], aggregate_id=str(event["aggregate_id"]),
                                   payload=record, instance=event["instance_name"])
        if routed:
            outcome = f"{outcome}; routed to {', '.join(routed)}"
        await conn.execute(q("odoo_set_status"), event_row, "completed", 1, None)
        await self.audit(conn, tenant_id=event["tenant_id"], instance_id=event["instance_id"], event_row=event_row,
                         kind="status", status="completed", reason=outcome)

    async def process_system(self, conn: asyncpg.Connection, event_id: int) -> None:
        """An event the database raised (a watched table, schema-changed, a monitor): routed like a webhook's."""
        event = await conn.fetchrow(q("system_event"), event_id)
        if event is None:
            return
        payload = dict(event["payload"])
        keys = payload.get("keys") or payload.get("old_keys") or []
        await route_event(conn, self.outbound, tenant_id=event["tenant_id"], source=event["source"],
                          event_row=event_id, event_type=event["event_type"], aggregate_type=event["aggregate_type"],
                          aggregate_id=str(keys[0]) if len(keys) == 1 else "", payload=payload, ledger="system")

    async def _failed(self, job: Job, status: str, error: str) -> None:
        if job.kind == "system_event":
            return  # the job's own record (dead letters) is what there is of it
        event_status = "dead" if status == "dead" else "failed"
        tenant = self.db.tenant(job.tenant_id)
        row = await tenant.fetchrow(q("odoo_set_status"), int(job.payload["event"]), event_status, 1, error)
        if row:
            await self.audit(tenant, tenant_id=row["tenant_id"], instance_id=row["instance_id"],
                             event_row=int(job.payload["event"]), kind="status", status=event_status, reason=error)

    async def replay(self, tenant_id: str, event_row: int) -> dict[str, Any]:
        tenant = self.db.tenant(tenant_id)
        job_id = await tenant.fetchval(
            q("odoo_event_dead_job"),
            ODOO_QUEUE, event_row)
        if job_id is None or not await self.queue.replay(tenant_id, job_id):
            raise NotFound(f"event {event_row} is not dead-lettered")
        row = await tenant.fetchrow(q("odoo_set_status"), event_row, "pending", 0, None)
        await self.audit(tenant, tenant_id=row["tenant_id"], instance_id=row["instance_id"], event_row=event_row,
                         kind="status", status="pending", reason="replayed")
        return {"id": event_row, "status": "pending"}
