"""HTTP handlers of the vault (/v1/vault): store and retire secret versions, register bots, audited reads."""
from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post, put

from sql.errors import InvalidInput
from app.params import Version, stated
from app.problems import read_body
from app.services import Services
from sql.queries import q


class SecretIn(msgspec.Struct, forbid_unknown_fields=True):
    value: Annotated[str, stated("the secret", minLength=1)]


class RetireIn(msgspec.Struct, forbid_unknown_fields=True):
    version: Version | None = None
    keep_latest: bool = False


class BotIn(msgspec.Struct, forbid_unknown_fields=True):
    allowed_secrets: list[str]
    description: str = ""


class ReadIn(msgspec.Struct, forbid_unknown_fields=True):
    bot_id: str
    name: str
    version: Version | None = None


class VaultController(Controller):
    path = "/v1/vault"
    tags = ["vault"]

    @put("/secrets/{name:str}", operation_id="putSecret", status_code=201, opt={"scope": "admin", "body": SecretIn})
    async def put_secret(self, request: Request, services: Services, tenant_id: str, name: str) -> dict[str, Any]:
        """Store a new version of a secret (earlier versions stay readable until retired)."""
        body = await read_body(request)
        if not body.value:
            raise InvalidInput("value is empty")
        return {"name": name, "version": await services.vault.put(tenant_id, name, body.value)}

    @post("/secrets/{name:str}/retire", operation_id="retireSecret", status_code=200,
          opt={"scope": "admin", "body": RetireIn})
    async def retire(self, request: Request, services: Services, tenant_id: str, name: str) -> dict[str, Any]:
        """Retire one version, or every version (but the newest, with keep_latest)."""
        body = await read_body(request)
        return {"name": name, "retired": await services.vault.retire(tenant_id, name, body.version,
                                                                     keep_latest=body.keep_latest)}

    @put("/bots/{bot_id:str}", operation_id="putBot", status_code=200, opt={"scope": "admin", "body": BotIn})
    async def put_bot(self, request: Request, services: Services, tenant_id: str, bot_id: str) -> dict[str, Any]:
        """Register a bot of the tenant and the secrets it may read (replaces its list)."""
        body = await read_body(request)
        await services.db.tenant(tenant_id).execute(
            q("bot_register"),
            bot_id, tenant_id, body.description, body.allowed_secrets)
        return {"bot_id": bot_id, "allowed_secrets": body.allowed_secrets}

    @post("/read", operation_id="readSecret", status_code=200, opt={"scope": "secrets:read", "body": ReadIn})
    async def read(self, request: Request, services: Services, tenant_id: str) -> dict[str, Any]:
        """A bot reads a secret it may read; every attempt is audited (remote address, user agent) first."""
        body = await read_body(request)
        value = await services.vault.get_logged(
            tenant_id, body.bot_id, body.name, version=body.version,
            remote=request.client.host if request.client else None, agent=request.headers.get("user-agent"))
        return {"name": body.name, "value": value}
