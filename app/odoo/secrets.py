"""Odoo webhook secrets live in the vault (one secret per instance, each active version verifies); secrets
stored in plain text by earlier versions (odoo.instance_secrets) are moved into it at start-up."""
from __future__ import annotations

import logging

import asyncpg

from app.security.vault import Vault

log = logging.getLogger(__name__)


def webhook_secret(instance: str) -> str:
    """The vault secret holding an instance's webhook secrets."""
    return f"odoo-webhook:{instance}"


async def adopt_plaintext_secrets(owner: asyncpg.Connection, vault: Vault) -> int:
    """As the owner: encrypt every active plain-text webhook secret into the vault, then delete them all."""
    rows = await owner.fetch(
        """SELECT i.tenant_id, i.name, s.id, s.secret, s.active FROM odoo.instance_secrets AS s
             JOIN odoo.instances AS i ON i.id = s.instance_id ORDER BY s.id""")
    for row in rows:
        if row["active"]:
            await vault.put(row["tenant_id"], webhook_secret(row["name"]), row["secret"])
        await owner.execute("DELETE FROM odoo.instance_secrets WHERE id = $1", row["id"])
    if rows:
        log.info("moved %d plain-text webhook secrets into the vault", len(rows))
    return len(rows)
