"""A plain-text description of the service's schemas (tables, columns, indexes, functions, triggers, RLS,
partitioning)."""
from __future__ import annotations

import asyncpg

SCHEMAS = ["rag", "catalog", "odoo", "odoo_seed", "control_plane"]


async def describe_schema(conn: asyncpg.Connection, schemas: list[str] | None = None) -> str:
    """Stable, sorted text; sql/schema.txt is this text for a database with every migration applied."""
    schemas = schemas or SCHEMAS
    lines: list[str] = []
    for r in await conn.fetch(
        """SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.udt_name, c.is_nullable,
                  coalesce(c.column_default, '') AS column_default, c.is_generated
             FROM information_schema.columns AS c
             JOIN information_schema.tables AS t USING (table_schema, table_name)
            WHERE c.table_schema = ANY($1) AND t.table_type = 'BASE TABLE'
            ORDER BY 1, 2, c.ordinal_position""",
        schemas,
    ):
        kind = r["udt_name"] if r["data_type"] in ("USER-DEFINED", "ARRAY") else r["data_type"]
        null = "" if r["is_nullable"] == "YES" else " not null"
        gen = " generated" if r["is_generated"] == "ALWAYS" else ""
        default = f" default {r['column_default']}" if r["column_default"] and not gen else ""
        lines.append(f"column {r['table_schema']}.{r['table_name']}.{r['column_name']} {kind}{null}{gen}{default}")
    for r in await conn.fetch(
        "SELECT schemaname, viewname, definition FROM pg_views WHERE schemaname = ANY($1) ORDER BY 1, 2", schemas
    ):
        lines.append(f"view {r['schemaname']}.{r['viewname']}: {' '.join(r['definition'].split())}")
    for r in await conn.fetch(
        "SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname = ANY($1) ORDER BY 1, 2", schemas
    ):
        lines.append(f"index {r['schemaname']}.{r['indexname']}: {r['indexdef']}")
    for r in await conn.fetch(
        """SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid) AS args,
                  pg_get_function_result(p.oid) AS result
             FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
            WHERE n.nspname = ANY($1) ORDER BY 1, 2, 3""",
        schemas,
    ):
        lines.append(f"function {r['nspname']}.{r['proname']}({r['args']}) -> {r['result']}")
    for r in await conn.fetch(
        """SELECT event_object_schema, event_object_table, trigger_name, action_timing, event_manipulation
             FROM information_schema.triggers WHERE trigger_schema = ANY($1) ORDER BY 1, 2, 3, 5""",
        schemas,
    ):
        lines.append(f"trigger {r[0]}.{r[1]}.{r[2]} {r[3]} {r[4]}")
    for r in await conn.fetch(
        """SELECT conrelid::regclass::text AS rel, conname, pg_get_constraintdef(oid) AS def
             FROM pg_constraint WHERE connamespace::regnamespace::text = ANY($1) ORDER BY 1, 2""",
        schemas,
    ):
        lines.append(f"constraint {r['rel']}.{r['conname']}: {r['def']}")
    for r in await conn.fetch(
        """SELECT n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity
             FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') AND c.relrowsecurity ORDER BY 1, 2""",
        schemas,
    ):
        lines.append(f"rls {r['nspname']}.{r['relname']}: enabled{', forced' if r['relforcerowsecurity'] else ''}")
    for r in await conn.fetch(
        """SELECT c.oid::regclass::text AS rel, pg_get_partkeydef(c.oid) AS key
             FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY($1) AND c.relkind = 'p' ORDER BY 1""",
        schemas,
    ):
        lines.append(f"partitioned {r['rel']}: by {r['key']}")
    for r in await conn.fetch(
        """SELECT schemaname, tablename, policyname, cmd, roles::text[] AS roles, qual, with_check
             FROM pg_policies WHERE schemaname = ANY($1) ORDER BY 1, 2, 3""",
        schemas,
    ):
        lines.append(f"policy {r['schemaname']}.{r['tablename']}.{r['policyname']} {r['cmd']} to "
                     f"{','.join(r['roles'])} using ({r['qual']}) check ({r['with_check']})")
    return "\n".join(lines) + "\n"
