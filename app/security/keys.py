"""API keys: shown once, stored as SHA-256, scoped, revocable with immediate effect."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from app.security.key_cache import KeyCache
from sql.db import Db
from sql.errors import InvalidInput, NotFound
from sql.queries import q

SCOPES = frozenset({"kb:read", "kb:write", "ask", "sync", "catalog", "secrets:read", "metrics", "storage:read",
                    "storage:write", "admin"})


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    scopes: frozenset[str]
    key_id: str | None = None
    user_id: str | None = None

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_key(db: Db, tenant_id: str, scopes: list[str], name: str = "") -> tuple[str, str]:
    """Returns (key id, the key itself); the key is not stored and cannot be shown again."""
    unknown = set(scopes) - SCOPES
    if not scopes or unknown:
        raise InvalidInput(f"scopes must be some of {', '.join(sorted(SCOPES))}; unknown: {sorted(unknown)}")
    prefix = secrets.token_hex(4)
    token = f"ipai_{prefix}_{secrets.token_urlsafe(32)}"
    key_id = uuid.uuid4()
    await db.tenant(tenant_id).execute(q("api_key_add"), key_id, tenant_id, name, prefix, _hash(token), sorted(scopes))
    return str(key_id), token


async def verify_key(db: Db, token: str, cache: KeyCache | None = None) -> Principal | None:
    """The key's principal, or None for an unknown, malformed or revoked key.

    The key's tenant is what the lookup finds out, so it is the SECURITY DEFINER function
    control_plane.api_key_by_prefix_v1 (by the key's public prefix; the hash is compared here). cache: where a
    found key's row is held (unknown prefixes are never held)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "ipai":
        return None
    row = cache.get(parts[1]) if cache is not None else None
    if row is None:
        generation = cache.generation if cache is not None else 0
        row = await db.pool.fetchrow(q("api_key_by_prefix"), parts[1])
        if row is not None and cache is not None:
            cache.put(parts[1], row, generation)
    if row is None or row["revoked_at"] is not None or not hmac.compare_digest(row["key_hash"], _hash(token)):
        return None
    return Principal(row["tenant_id"], frozenset(row["scopes"]), key_id=str(row["id"]))


async def revoke_key(db: Db, tenant_id: str, key_id: str) -> None:
    """Revoke one of the tenant's keys; the next request with it is refused."""
    try:
        uuid.UUID(key_id)
    except ValueError as exc:
        raise InvalidInput(f"{key_id!r} is not a key id") from exc
    done = await db.tenant(tenant_id).fetchval(q("api_key_revoke"), key_id)
    if not done:
        raise NotFound(f"no active API key {key_id}")
