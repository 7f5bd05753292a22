"""The secrets vault: AES-GCM with the row id as associated data; reads only through audited functions."""
from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sql.db import Db
from sql.errors import ConfigurationError, Forbidden, NotFound
from app.settings import SecuritySettings
from sql.queries import q


def load_key(settings: SecuritySettings, data_dir: Path | None = None) -> bytes:
    """The 32-byte key from IPAI_VAULT_KEY (base64) or the file IPAI_VAULT_KEY_FILE; never the database.

    With neither set and a data folder given, the key file IPAI_DATA_DIR/vault.key is used, created on
    first use (mode 0600) so local development needs no set-up."""
    raw = settings.vault_key
    path = settings.vault_key_file
    if not raw and path is None and data_dir is not None:
        path = data_dir / "vault.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(base64.b64encode(os.urandom(32)).decode())
    if not raw and path is not None:
        raw = path.read_text().strip()
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
    def __init__(self, db: Db, key: bytes) -> None:
        self.db = db
        self._aead = AESGCM(key)

    async def put(self, tenant_id: str, name: str, value: str) -> int:
        """Store a new version of a secret (the previous versions stay readable until retired)."""
        row_id = uuid.uuid4()
        nonce = os.urandom(12)
        ciphertext = self._aead.encrypt(nonce, value.encode(), row_id.bytes)
        async with self.db.tenant(tenant_id).acquire() as conn:
            await conn.execute(q("vault_lock"), tenant_id, name)
            version = await conn.fetchval(
                q("vault_next_version"),
                tenant_id, name)
            await conn.execute(
                q("vault_put"), row_id, tenant_id, name, version, nonce, ciphertext)
        return version

    async def retire(self, tenant_id: str, name: str, version: int | None = None, *, keep_latest: bool = False) -> int:
        """Retire one version, or (version None) every active version but, with keep_latest, the newest."""
        done = await self.db.tenant(tenant_id).fetchval(
            q("vault_retire"), tenant_id, name, version, keep_latest)
        if version is not None and not done:
            raise NotFound(f"no active version {version} of secret {name!r}")
        return done

    def _open(self, name: str, row: object) -> str:
        try:
            return self._aead.decrypt(row["nonce"], row["ciphertext"], row["id"].bytes).decode()  # type: ignore[index]
        except InvalidTag as exc:
            raise ConfigurationError(f"secret {name!r} does not decrypt with this key (wrong key or moved data)") from exc

    async def get_logged(self, tenant_id: str, bot_id: str, name: str, *, remote: str | None = None,
                         agent: str | None = None, version: int | None = None) -> str:
        """The secret's value for a bot allowed to read it; every attempt is audited first."""
        row = await self.db.tenant(tenant_id).fetchrow(
            q("vault_bot_read"),
            bot_id, name, remote, agent, version)
        if row is None:
            raise Forbidden(f"bot {bot_id!r} may not read secret {name!r}, or it has no active version")
        return self._open(name, row)

    async def service_values(self, tenant_id: str, name: str) -> list[str]:
        """Every active version of a secret the service itself uses (newest first); the read is audited."""
        rows = await self.db.tenant(tenant_id).fetch(q("vault_service_values"), name)
        return [self._open(name, r) for r in rows]
