"""What an Odoo change does here, by aggregate type: shadow snapshots, the module inventory in the
catalog, knowledge-base documents. Every handler runs inside the caller's transaction, and an older
write_date never replaces a newer snapshot."""
from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime, UTC
from typing import Any

import asyncpg

from app.kb.service import file_name
from app.odoo.github import GITHUB_AGGREGATE, describe
from app.storage.service import StoredObject
from app.catalog.fqdn import segment
from app.services import Services
from ingest.loaders import LoadedDocument, load_bytes
from ingest.pipeline import IngestOptions
from sql.errors import IpaiError, PayloadTooLarge, UnsupportedMediaType
from sql.queries import q

DELETES = {"delete", "deleted", "unlink"}
ATTACHMENT = "ir.attachment"
ATTACHMENTS_BUCKET = "attachments"


@dataclass(frozen=True)
class Change:
    """One change of one Odoo record (from a webhook or a pull)."""

    instance_id: int
    instance: str
    database: str
    tenant_id: str
    event_type: str
    model: str
    odoo_id: int
    record: dict[str, Any]

    @property
    def write_date(self) -> datetime:
        return parse_write_date(self.record.get("write_date"))


def parse_write_date(value: Any) -> datetime:
    """Odoo writes 'YYYY-MM-DD HH:MM:SS' in UTC; ISO strings are accepted too; missing = now."""
    if not value:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _many2one(value: Any) -> Any:
    """Odoo renders a many2one as [id, name]; the id is what is kept."""
    return value[0] if isinstance(value, list) and value else value


def _ref(record: dict[str, Any]) -> str | None:
    return record.get("external_ref") or record.get("x_external_ref") or record.get("code") or None


class ChangeHandlers:
    def __init__(self, services: Services, kb_models: frozenset[str],
                 attachment_models: frozenset[str] | None = None) -> None:
        self.services = services
        self.kb_models = kb_models
        self.attachment_models = (services.settings.odoo.attachment_models if attachment_models is None
                                  else attachment_models)

    async def apply(self, conn: asyncpg.Connection, change: Change) -> str:
        """Apply one change; returns what was done (for the audit log)."""
        if change.model in self.kb_models:
            return await self._knowledge(conn, change)
        if change.model == ATTACHMENT:
            return await self._attachment(conn, change)
        table = {"project.project": "shadow_projects", "project.task": "shadow_tasks", "account.move": "shadow_moves"}
        if change.model in table:
            if change.event_type in DELETES:
                # The table name comes from the fixed map above, never from the event; values are parameters.
                await conn.execute(f"DELETE FROM odoo_seed.{table[change.model]} WHERE instance_id = $1 AND odoo_id = $2",
                                   change.instance_id, change.odoo_id)
                return "deleted snapshot"
            return await self._snapshot(conn, change, table[change.model])
        if change.model == "ir.module.module":
            return await self._module(conn, change)
        if change.model == GITHUB_AGGREGATE:
            return describe(change.event_type, change.record)
        return f"no handler for {change.model}"

    async def _snapshot(self, conn: asyncpg.Connection, c: Change, table: str) -> str:
        r = c.record
        name = str(r.get("name") or r.get("display_name") or "")
        if table == "shadow_projects":
            done = await conn.fetchval(q("odoo_upsert_project"), c.instance_id, c.tenant_id, c.odoo_id, _ref(r), name,
                                       c.write_date, r)
        elif table == "shadow_tasks":
            done = await conn.fetchval(q("odoo_upsert_task"), c.instance_id, c.tenant_id, c.odoo_id, _ref(r),
                                       _many2one(r.get("project_id")), name, c.write_date, r)
        else:
            partner = r.get("partner_id")
            partner_name = partner[1] if isinstance(partner, list) and len(partner) > 1 else (str(partner) if partner else None)
            done = await conn.fetchval(q("odoo_upsert_move"), c.instance_id, c.tenant_id, c.odoo_id, name,
                                       r.get("move_type"), r.get("state"), r.get("amount_total"), partner_name,
                                       c.write_date, r)
        if done is None:
            return "ignored: an equal or newer snapshot is already stored"
        await conn.execute(q("odoo_mapping"), c.instance_id, c.tenant_id, c.model, c.odoo_id, table, str(c.odoo_id),
                           _ref(r))
        return f"snapshot {table}"

    async def _module(self, conn: asyncpg.Connection, c: Change) -> str:
        name = str(c.record.get("name") or "")
        if not name:
            raise ValueError("ir.module.module change without a module name")
        fqdn = f"odoo.{segment(c.database)}.modules.{name}"
        installed = c.record.get("state", "installed") == "installed" and c.event_type not in DELETES
        await conn.execute(
            q("catalog_upsert"), c.tenant_id, [fqdn], ["odoo_module"], ["odoo"], [segment(c.database)],
            [f"modules.{name}"],
            [{"description": c.record.get("shortdesc") or name, "version": c.record.get("latest_version"),
              "state": c.record.get("state")}], [None], [""], [f"odoo:{segment(c.database)}"])
        if not installed:
            await conn.execute(q("catalog_asset_retire"), fqdn)
        return f"module inventory {'installed' if installed else 'retired'}"

    async def _knowledge(self, conn: asyncpg.Connection, c: Change) -> str:
        external_id = f"{c.model}/{c.odoo_id}"
        source = f"odoo:{c.instance}"
        existing = await conn.fetchrow(
            q("odoo_document_by_provenance"),
            c.tenant_id, source, external_id)
        if existing and existing["wd"] and parse_write_date(existing["wd"]) >= c.write_date:
            return "ignored: an equal or newer version is already stored"
        if c.event_type in DELETES:
            if existing:
                await conn.execute(q("document_delete_by_id"), existing["id"])
            return "deleted knowledge document"
        r = c.record
        text = str(r.get("body") or r.get("description") or r.get("content") or "").strip()
        if not text:
            return "ignored: the record has no text"
        doc = LoadedDocument(
            external_id=external_id, title=str(r.get("name") or external_id), text=text, source=source,
            provenance={"uri": f"odoo://{c.instance}/{c.model}/{c.odoo_id}",
                        "write_date": c.write_date.isoformat()}, metadata={"odoo_model": c.model})
        pipeline = self.services.pipeline
        prepared = pipeline.prepare(doc, IngestOptions(tenant_id=c.tenant_id))
        result = await pipeline.store.store(conn, [prepared], c.tenant_id)
        await conn.execute(q("odoo_mapping"), c.instance_id, c.tenant_id, c.model, c.odoo_id, "document",
                           str(result.document_ids[0]), _ref(r))
        return "knowledge document"

    async def _attachment(self, conn: asyncpg.Connection, c: Change) -> str:
        """An ir.attachment of a configured model: its file in the attachments bucket at
        odoo/<model>/<res_id>/<name> (unchanged bytes are not written again), and a knowledge-base document when
        the knowledge base reads its type. A deleted or renamed attachment takes its old file along."""
        r = c.record
        res_model = str(r.get("res_model") or "")
        storage = self.services.storage
        tag = {"odoo_instance": c.instance, "odoo_attachment": c.odoo_id}
        previous = [StoredObject.of(row) for row in await conn.fetch(q("storage_objects_tagged"), c.tenant_id,
                                                                      ATTACHMENTS_BUCKET, tag)]
        external_id, source = f"{ATTACHMENT}/{c.odoo_id}", f"odoo:{c.instance}"
        if any(parse_write_date(o.metadata.get("write_date")) >= c.write_date for o in previous
               if o.metadata.get("write_date")):
            return "ignored: an equal or newer version is already stored"
        if c.event_type in DELETES:  # (their bytes go with the cleanup job's sweep, once nothing refers to them)
            await storage.delete_ids(conn, [o.id for o in previous])
            await conn.execute(q("odoo_document_delete_by_key"), c.tenant_id, source, external_id)
            return f"deleted attachment ({len(previous)} stored files)"
        if res_model not in self.attachment_models:
            return f"ignored: attachments of {res_model or 'no model'!r} are not kept (ODOO_ATTACHMENT_MODELS)"
        if not r.get("datas"):
            return "ignored: the attachment has no content (a URL attachment, or datas was not sent)"
        try:
            data = base64.b64decode(str(r["datas"]), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"ir.attachment {c.odoo_id}: datas is not base64 ({exc})") from exc
        name = file_name(str(r.get("name") or f"attachment-{c.odoo_id}"))
        key = f"odoo/{file_name(res_model)}/{int(_many2one(r.get('res_id')) or 0)}/{name}"
        await storage.delete_ids(conn, [o.id for o in previous if o.key != key])  # renamed or moved
        same = next((o for o in previous if o.key == key and o.sha256 == hashlib.sha256(data).hexdigest()), None)
        if same is not None:
            return "unchanged attachment (same checksum)"
        mimetype = str(r.get("mimetype") or "application/octet-stream")
        try:
            obj, _ = await storage.put_bytes(c.tenant_id, ATTACHMENTS_BUCKET, key, data, mimetype,
                                             uploader=f"odoo:{c.instance}", conn=conn,
                                             metadata={**tag, "res_model": res_model, "checksum": r.get("checksum"),
                                                       "write_date": c.write_date.isoformat()})
        except (PayloadTooLarge, UnsupportedMediaType) as exc:  # the bucket's settings refuse it: not a retry
            return f"ignored: {exc.detail}"
        try:
            docs = list(load_bytes(data, name, mimetype,
                                   max_decompressed=self.services.settings.server.max_decompressed_bytes))
        except IpaiError as exc:  # a type it does not read, past a parser's bound, damaged: the file is kept
            return f"stored attachment, not read into the knowledge base: {exc.detail}"
        doc = docs[0]
        doc.external_id, doc.source, doc.title = external_id, source, doc.title or name
        doc.provenance = {**doc.provenance, "uri": f"odoo://{c.instance}/{res_model}/{r.get('res_id')}/{name}",
                          "write_date": c.write_date.isoformat()}
        doc.metadata = {"odoo_model": res_model, "res_id": _many2one(r.get("res_id"))}
        pipeline = self.services.pipeline
        result = await pipeline.store.store(conn, [pipeline.prepare(doc, IngestOptions(tenant_id=c.tenant_id))],
                                            c.tenant_id)
        await conn.execute(q("documents_link_original"), obj.id, result.document_ids)
        await conn.execute(q("odoo_mapping"), c.instance_id, c.tenant_id, c.model, c.odoo_id, "document",
                           str(result.document_ids[0]), None)
        return "stored attachment and knowledge document"
