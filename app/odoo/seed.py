"""Seed (expected) projects and tasks, loaded from JSON or YAML; drift is read from the views."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg

from sql.errors import InvalidInput
from sql.queries import q


def read_seed(path: Path) -> dict[str, list[dict[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the file's fault
        raise InvalidInput(f"{path} is not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected an object with 'projects' and 'tasks' lists")
    for key in ("projects", "tasks"):
        for item in data.get(key) or []:
            if not isinstance(item, dict) or not item.get("external_ref") or not item.get("name"):
                raise InvalidInput(f"{path}: every entry of {key} needs external_ref and name")
    return {"projects": data.get("projects") or [], "tasks": data.get("tasks") or []}


async def load_seed(conn: asyncpg.Connection, tenant_id: str, seed: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Replace the tenant's seed in one transaction."""
    async with conn.transaction():
        await conn.execute(q("seed_tasks_clear"), tenant_id)
        await conn.execute(q("seed_projects_clear"), tenant_id)
        await conn.executemany(q("seed_project_add"),
                               [(tenant_id, p["external_ref"], p["name"]) for p in seed["projects"]])
        await conn.executemany(
            q("seed_task_add"),
            [(tenant_id, t["external_ref"], t.get("project_ref"), t["name"]) for t in seed["tasks"]])
    return {"projects": len(seed["projects"]), "tasks": len(seed["tasks"])}


async def drift(conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for key, view in (("missing_in_odoo", "v_missing_in_odoo"), ("orphan_in_odoo", "v_orphan_in_odoo"),
                      ("name_drift", "v_name_drift")):
        # The view's name comes from the fixed list above; the tenant is a parameter.
        rows = await conn.fetch(f"SELECT * FROM odoo_seed.{view} WHERE tenant_id = $1 ORDER BY kind, external_ref",
                                tenant_id)
        out[key] = [{k: v for k, v in dict(r).items() if k != "tenant_id"} for r in rows]
    return out
