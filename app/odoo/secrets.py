"""The Odoo secrets the service reads from the vault: webhook secrets (one secret per instance, each
active version verifies; plain-text ones of earlier versions are moved into it at start-up), the
JSON-RPC password and the outbound signing secret."""
from __future__ import annotations

import logging

import asyncpg

from app.security.vault import Vault
from sql.queries import q

log = logging.getLogger(__name__)


ODOO_PASSWORD = "odoo-password"
"""Vault secret (per tenant): the JSON-RPC password or API key for pulls and catalog sync (ODOO_PASSWORD
is the fallback)."""
OUTBOUND_SECRET = "outbound-webhook"
"""Vault secret (per tenant) signing outbound deliveries (OUTBOUND_WEBHOOK_SECRET is the fallback)."""


def webhook_secret(instance: str) -> str:
    """The vault secret holding an instance's webhook secrets."""
    return f"odoo-webhook:{instance}"


async def adopt_plaintext_secrets(owner: asyncpg.Connection, vault: Vault) -> int:
    """As the owner: encrypt every active plain-text webhook secret into the vault, then delete them all."""
    rows = await owner.fetch(
        q("odoo_plaintext_secrets"))
    for row in rows:
        if row["active"]:
            await vault.put(row["tenant_id"], webhook_secret(row["name"]), row["secret"])
        await owner.execute(q("odoo_plaintext_secret_delete"), row["id"])
    if rows:
        log.info("moved %d plain-text webhook secrets into the vault", len(rows))
    return len(rows)
