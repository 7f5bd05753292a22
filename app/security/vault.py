"""The secrets vault: AES-GCM with the row id as associated data; reads only through the audited function."""
from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.errors import ConfigurationError, IpaiError, NotFound


class Forbidden(IpaiError):
    status_code = 403
    title = "Forbidden"


def load_key(env: dict[str, str] | None = None) -> bytes:
    """The 32-byte key from IPAI_VAULT_KEY (base64) or the file IPAI_VAULT_KEY_FILE; never the database."""
    env = dict(os.environ) if env is None else env
    raw = env.get("IPAI_VAULT_KEY")
    if not raw and env.get("IPAI_VAULT_KEY_FILE"):
        raw = Path(env["IPAI_VAULT_KEY_FILE"]).read_text().strip()
    if not raw:
        raise ConfigurationError("the vault needs IPAI_VAULT_KEY (base64 of 32 bytes) or IPAI_VAULT_KEY_FILE")
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise ConfigurationError("IPAI_VAULT_KEY is not valid base64") from exc
    if len(key) != 32:
        raise ConfigurationError("the vault key must be 32 bytes (AES-256)")
    return key


class Vault:
    def __init__(self, pool: asyncpg.Pool, key: bytes) -> None:
        self.pool = pool
        self._aead = AESGCM(key)

    async def put(self, name: str, value: str, *, tenant_id: str = "default") -> int:
        """Store a new version of a secret (the previous versions stay readable until retired)."""
        row_id = uuid.uuid4()
        nonce = os.urandom(12)
        ciphertext = self._aead.encrypt(nonce, value.encode(), row_id.bytes)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('vault:' || $1 || ':' || $2))", tenant_id, name)
            version = await conn.fetchval(
                "SELECT coalesce(max(version), 0) + 1 FROM control_plane.secrets WHERE tenant_id = $1 AND name = $2",
                tenant_id, name)
            await conn.execute(
                "INSERT INTO control_plane.secrets (id, tenant_id, name, version, nonce, ciphertext) "
                "VALUES ($1, $2, $3, $4, $5, $6)", row_id, tenant_id, name, version, nonce, ciphertext)
        return version

    async def retire(self, name: str, version: int, *, tenant_id: str = "default") -> None:
        done = await self.pool.fetchval(
            "UPDATE control_plane.secrets SET retired_at = now() WHERE tenant_id = $1 AND name = $2 AND version = $3 "
            "AND retired_at IS NULL RETURNING 1", tenant_id, name, version)
        if not done:
            raise NotFound(f"no active version {version} of secret {name!r}")

    async def get_logged(self, bot_id: str, name: str, *, remote: str | None = None, agent: str | None = None,
                         version: int | None = None) -> str:
        """The secret's value for a bot allowed to read it; every attempt is audited first."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM control_plane.control_plane_get_secret_logged($1, $2, $3, $4, $5)",
                bot_id, name, remote, agent, version)
        if row is None:
            raise Forbidden(f"bot {bot_id!r} may not read secret {name!r}, or it has no active version")
        try:
            return self._aead.decrypt(row["nonce"], row["ciphertext"], row["id"].bytes).decode()
        except InvalidTag as exc:
            raise ConfigurationError(f"secret {name!r} does not decrypt with this key (wrong key or moved data)") from exc
