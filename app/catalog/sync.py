"""Catalog sync: the service's own schemas, an Odoo instance's models and modules, knowledge-base sources.
Idempotent; assets a scope no longer reports are retired, never deleted."""
from __future__ import annotations

from typing import Any

from app.catalog.fqdn import segment
from app.catalog.service import AssetSpec, Catalog
from app.odoo.jsonrpc import OdooClient
from sql.queries import q

OWN_SCHEMAS = ["rag", "catalog"]


async def sync_self(catalog: Catalog) -> tuple[list[AssetSpec], list[tuple[str, str, str]]]:
    async with catalog.db.acquire() as conn:  # one transaction of the tenant for the four catalog reads
        db = segment(await conn.fetchval(q("current_database")))
        relations = await conn.fetch(q("catalog_self_relations"), OWN_SCHEMAS)
        functions = await conn.fetch(q("catalog_self_functions"), OWN_SCHEMAS)
        foreign_keys = await conn.fetch(q("catalog_self_foreign_keys"), OWN_SCHEMAS)
    specs, edges = [], []
    for r in relations:
        specs.append(AssetSpec(f"ipai.{db}.{r['schema']}.{r['name']}", r["type"], registered_by="self",
                               metadata={"description": r["comment"] or f"{r['schema']}.{r['name']} {r['type']}",
                                         "columns": r["columns"] or []}))
    for r in functions:
        specs.append(AssetSpec(f"ipai.{db}.{r['schema']}.{r['name']}", "function", registered_by="self",
                               metadata={"description": f"function {r['schema']}.{r['name']}({r['args']})",
                                         "result": r["result"]}))
    for r in foreign_keys:
        edges.append((f"ipai.{db}.{r['to_name']}", f"ipai.{db}.{r['from_name']}", "referenced_by"))
    return specs, edges


async def sync_odoo(client: OdooClient) -> tuple[str, list[AssetSpec], list[tuple[str, str, str]]]:
    db = segment(client.conn.db)
    scope = f"odoo:{db}"
    specs, edges = [], []
    modules: dict[str, dict[str, Any]] = {}
    async for m in client.search_read("ir.module.module", [["state", "=", "installed"]],
                                      ["name", "shortdesc", "latest_version", "state"]):
        modules[m["name"]] = m
        specs.append(AssetSpec(f"odoo.{db}.modules.{m['name']}", "odoo_module", registered_by=scope,
                               metadata={"description": m.get("shortdesc") or m["name"],
                                         "version": m.get("latest_version"), "state": m.get("state")}))
    async for m in client.search_read("ir.model", [], ["model", "name", "modules", "transient"]):
        fqdn = f"odoo.{db}.{m['model']}"
        owners = [x.strip() for x in (m.get("modules") or "").split(",") if x.strip()]
        specs.append(AssetSpec(fqdn, "odoo_model", registered_by=scope,
                               metadata={"description": m.get("name") or m["model"], "modules": ", ".join(owners),
                                         "transient": bool(m.get("transient"))}))
        edges.extend((f"odoo.{db}.modules.{o}", fqdn, "defines") for o in owners if o in modules)
    return scope, specs, edges


async def sync_kb(catalog: Catalog) -> list[AssetSpec]:
    return [AssetSpec(f"ipai.kb.{segment(r['source'])}", "kb_collection", registered_by="kb",
                      metadata={"description": f"knowledge-base collection {r['source']}", "source": r["source"],
                                "documents": r["documents"]})
            for r in await catalog.db.fetch(q("catalog_kb_sources"), catalog.tenant_id)]


async def run_sync(catalog: Catalog, odoo: OdooClient | None = None) -> dict[str, dict[str, int]]:
    """Every scope in turn; returns per scope how many assets were new, changed, unchanged and retired."""
    report: dict[str, dict[str, int]] = {}

    async def apply(scope: str, specs: list[AssetSpec], edges: list[tuple[str, str, str]]) -> None:
        inserted, updated = await catalog.register(specs)
        retired = await catalog.retire_missing(scope, [s.fqdn for s in specs])
        if edges:
            await catalog.link(edges)
        report[scope] = {"inserted": inserted, "updated": updated,
                         "unchanged": len(specs) - inserted - updated, "retired": retired, "edges": len(edges)}

    specs, edges = await sync_self(catalog)
    await apply("self", specs, edges)
    if odoo is not None:
        scope, specs, edges = await sync_odoo(odoo)
        await apply(scope, specs, edges)
    await apply("kb", await sync_kb(catalog), [])
    return report
