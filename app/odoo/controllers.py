"""The bridge API: webhook receivers (Odoo, GitHub), instances, event replay, drift."""
from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import HTTPException
from litestar.params import Parameter
from litestar.response import Response

from sql.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from app.odoo.ledger import MAX_BODY, Ledger
from app.odoo.secrets import webhook_secret
from app.odoo.seed import drift
from app.params import HttpUrl, Name, row_id, stated
from app.services import Services
from sql.queries import q


INSTANCE = Parameter(default=None, description="the instance, when the sender cannot set x-ipai-instance")
TENANT = Parameter(default=None, description="the instance's tenant, when the sender cannot set x-ipai-tenant")
WebhookSecret = Annotated[str, stated("a webhook secret of 16 or more characters", minLength=16)]


class InstanceIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    base_url: HttpUrl
    database: Name
    secrets: Annotated[list[WebhookSecret], stated("the webhook secrets (one or more)", minItems=1)]


class SecretIn(msgspec.Struct, forbid_unknown_fields=True):
    secret: WebhookSecret
    deactivate_others: bool = False


async def _body(request: Request, ledger: Ledger, instance: str | None, tenant: str | None) -> bytes:
    """The raw body; over 1 MiB is a 413 that is audited like every other rejection."""
    try:
        return await request.body()
    except HTTPException as exc:
        if exc.status_code != 413:
            raise
        row = None
        try:
            row = await ledger.instance(instance, tenant)
        except Exception:  # noqa: BLE001 - an unknown instance is audited without one
            row = None
        raise await ledger.reject(PayloadTooLarge(f"webhook bodies are limited to {MAX_BODY} bytes"), row,
                                  request.client.host if request.client else None,
                                  request.headers.get("user-agent")) from exc


class OdooController(Controller):
    tags = ["odoo"]

    @post("/v1/odoo/webhook", operation_id="odooWebhook", request_max_body_size=MAX_BODY, status_code=202,
        opt={"public": True, "raw_body": True})
    async def webhook(self, request: Request, services: Services, instance: str | None = INSTANCE,
                      tenant: str | None = TENANT) -> Response[dict[str, Any]]:
        """A signed Odoo event: 202 once stored, 200 for a repeat (with the original id)."""
        return await self._receive(request, services, github=False)

    @post("/v1/github/webhook", operation_id="githubWebhook", request_max_body_size=MAX_BODY, status_code=202,
        opt={"public": True, "raw_body": True})
    async def github(self, request: Request, services: Services, instance: str | None = INSTANCE,
                     tenant: str | None = TENANT) -> Response[dict[str, Any]]:
        """A GitHub webhook (X-Hub-Signature-256) into the same ledger."""
        return await self._receive(request, services, github=True)

    @staticmethod
    async def _receive(request: Request, services: Services, *, github: bool) -> Response[dict[str, Any]]:
        instance = request.headers.get("x-ipai-instance") or request.query_params.get("instance")
        tenant = request.headers.get("x-ipai-tenant") or request.query_params.get("tenant")
        ledger = Ledger(services)
        body = await _body(request, ledger, instance, tenant)
        status, out = await ledger.receive(
            instance, body, {k.lower(): v for k, v in request.headers.items()},
            request.client.host if request.client else None, request.headers.get("user-agent"), github=github,
            tenant=tenant)
        return Response(out, status_code=status)

    @post("/v1/odoo/instances", operation_id="addOdooInstance", status_code=201,
          opt={"scope": "sync"})
    async def add_instance(self, data: InstanceIn, services: Services, tenant_id: str) -> dict[str, Any]:
        """Register an Odoo instance with its webhook secret(s)."""
        if not data.secrets or any(len(s) < 16 for s in data.secrets):
            raise InvalidInput("give at least one webhook secret of 16 or more characters")
        if await services.db.tenant(tenant_id).fetchval(q("odoo_instance_id"), data.name, tenant_id):
            raise Conflict(f"an instance named {data.name!r} exists already")
        for secret in data.secrets:  # the vault first: an instance never exists without its secrets
            await services.vault.put(tenant_id, webhook_secret(data.name), secret)
        try:
            instance_id = await services.db.tenant(tenant_id).fetchval(
                q("odoo_instance_add"),
                tenant_id, data.name, data.base_url, data.database)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"an instance named {data.name!r} exists already") from exc
        return {"id": instance_id, "name": data.name}

    @post("/v1/odoo/instances/{name:str}/secrets", operation_id="rotateOdooSecret", status_code=201,
        opt={"scope": "sync"})
    async def add_secret(self, data: SecretIn, services: Services, tenant_id: str, name: str) -> dict[str, Any]:
        """Add a webhook secret (rotation); optionally retire the others."""
        if len(data.secret) < 16:
            raise InvalidInput("webhook secrets need 16 or more characters")
        if await services.db.tenant(tenant_id).fetchval(
                q("odoo_instance_id"), name, tenant_id) is None:
            raise NotFound(f"no Odoo instance {name!r}")
        await services.vault.put(tenant_id, webhook_secret(name), data.secret)
        if data.deactivate_others:
            await services.vault.retire(tenant_id, webhook_secret(name), keep_latest=True)
        return {"instance": name, "active_secrets": "rotated" if data.deactivate_others else "added"}

    @get("/v1/odoo/events/{event_id:int}", operation_id="odooEvent", opt={"scope": "sync"})
    async def event(self, services: Services, tenant_id: str, event_id: int = row_id()) -> dict[str, Any]:
        """One ledger entry with its status."""
        row = await services.db.tenant(tenant_id).fetchrow(
            q("odoo_event_status"), event_id, tenant_id)
        if row is None:
            raise NotFound(f"no event {event_id}")
        return dict(row)

    @post("/v1/odoo/events/{event_id:int}/replay", operation_id="replayOdooEvent", status_code=202,
        opt={"scope": "sync"})
    async def replay(self, services: Services, tenant_id: str, event_id: int = row_id()) -> dict[str, Any]:
        """Send a dead-lettered event back for processing."""
        return await Ledger(services).replay(tenant_id, event_id)

    @get("/v1/odoo/drift", operation_id="odooDrift", opt={"scope": "sync"})
    async def drift(self, services: Services, tenant_id: str) -> dict[str, Any]:
        """Seed vs shadow: missing in Odoo, orphans in Odoo, name drift."""
        return await drift(services.db.tenant(tenant_id), tenant_id)
