"""HTTP handlers of the vault (/v1/vault: store and retire secret versions, register bots, audited reads) and of
/v1/me (who the credentials are)."""
from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post, put

from sql.errors import InvalidInput
from app.params import Version, stated
from app.security.auth import ANY_SCOPE
from app.security.keys import Principal
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


class MeOut(msgspec.Struct):
    """Who the credentials are."""

    tenant_id: str
    scopes: list[str]
    user_id: str | None
    key_id: str | None


class MeController(Controller):
    path = "/v1/me"
    tags = ["security"]

    @get("", operation_id="me", opt={"scope": ANY_SCOPE})
    async def me(self, principal: Principal) -> MeOut:
        """The tenant, scopes and user of the request's credentials (any valid credentials)."""
        return MeOut(principal.tenant_id, sorted(principal.scopes), principal.user_id, principal.key_id)


class VaultController(Controller):
    path = "/v1/vault"
    tags = ["vault"]

    @put("/secrets/{name:str}", operation_id="putSecret", status_code=201, opt={"scope": "admin"})
    async def put_secret(self, data: SecretIn, services: Services, tenant_id: str, name: str) -> dict[str, Any]:
        """Store a new version of a secret (earlier versions stay readable until retired)."""
        if not data.value:
            raise InvalidInput("value is empty")
        return {"name": name, "version": await services.vault.put(tenant_id, name, data.value)}

    @post("/secrets/{name:str}/retire", operation_id="retireSecret", status_code=200,
          opt={"scope": "admin"})
    async def retire(self, data: RetireIn, services: Services, tenant_id: str, name: str) -> dict[str, Any]:
        """Retire one version, or every version (but the newest, with keep_latest)."""
        return {"name": name, "retired": await services.vault.retire(tenant_id, name, data.version,
                                                                     keep_latest=data.keep_latest)}

    @put("/bots/{bot_id:str}", operation_id="putBot", status_code=200, opt={"scope": "admin"})
    async def put_bot(self, data: BotIn, services: Services, tenant_id: str, bot_id: str) -> dict[str, Any]:
        """Register a bot of the tenant and the secrets it may read (replaces its list)."""
        await services.db.tenant(tenant_id).execute(
            q("bot_register"),
            bot_id, tenant_id, data.description, data.allowed_secrets)
        return {"bot_id": bot_id, "allowed_secrets": data.allowed_secrets}

    @post("/read", operation_id="readSecret", status_code=200, opt={"scope": "secrets:read"})
    async def read(self, request: Request, data: ReadIn, services: Services, tenant_id: str) -> dict[str, Any]:
        """A bot reads a secret it may read; every attempt is audited (remote address, user agent) first."""
        value = await services.vault.get_logged(
            tenant_id, data.bot_id, data.name, version=data.version,
            remote=request.client.host if request.client else None, agent=request.headers.get("user-agent"))
        return {"name": data.name, "value": value}
