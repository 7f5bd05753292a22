"""Migrations: the drift test against sql/schema.sql, idempotence, edits refused, missing extensions."""
from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from sql import db as dbmod
from sql.db import MIGRATIONS_DIR, migrate, migration_files
from sql.errors import ConfigurationError, MissingExtension
from sql.schema import SCHEMA_FILE, dump_schema


async def test_migrations_on_an_empty_database_match_the_documented_schema(empty_db_url: str) -> None:
    conn = await asyncpg.connect(empty_db_url)
    try:
        applied = await migrate(conn)
        assert applied == [name for _, name, _ in migration_files()]
    finally:
        await conn.close()
    actual = await dump_schema(empty_db_url)
    assert actual == SCHEMA_FILE.read_text(), (
        "schema drift: the migrations no longer produce sql/schema.sql; if the change is intended, "
        "regenerate it with `ipai-rag migrate --schema > sql/schema.sql`"
    )


async def test_a_function_body_changed_without_a_migration_is_drift(empty_db_url: str) -> None:
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrate(conn)
        body = await conn.fetchval("SELECT pg_get_functiondef('rag.term_stats_partition_v1'::regproc)")
        await conn.execute(body.replace("substr(md5(p_tenant), 1, 12)", "substr(md5(p_tenant), 1, 16)"))
    finally:
        await conn.close()
    assert await dump_schema(empty_db_url) != SCHEMA_FILE.read_text()


async def test_second_run_applies_nothing(empty_db_url: str) -> None:
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrate(conn)
        assert await migrate(conn) == []
        count = await conn.fetchval("SELECT count(*) FROM public.ipai_migrations")
        assert count == len(migration_files())
    finally:
        await conn.close()


async def test_an_edited_migration_is_refused(empty_db_url: str, tmp_path: Path) -> None:
    for path in MIGRATIONS_DIR.glob("*.sql"):
        (tmp_path / path.name).write_text(path.read_text())
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrate(conn, tmp_path)
        first = sorted(tmp_path.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(ConfigurationError, match="edited after it was applied"):
            await migrate(conn, tmp_path)
    finally:
        await conn.close()


async def test_missing_extension_is_named_and_nothing_is_created(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(dbmod.REQUIRED_EXTENSIONS, "no_such_ext", "the no_such_ext package")
    conn = await asyncpg.connect(empty_db_url)
    try:
        with pytest.raises(MissingExtension) as info:
            await migrate(conn)
        assert "no_such_ext" in info.value.detail and "install" in info.value.detail
        assert "vector" not in info.value.detail.split("install")[0]
        assert await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = 'rag'") == 0
        assert await conn.fetchval("SELECT to_regclass('public.ipai_migrations')") is None
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_created(empty_db_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE public.good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE public.half (id int); SELECT no_such_function();")
    conn = await asyncpg.connect(empty_db_url)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(conn, tmp_path)
        assert await conn.fetchval("SELECT to_regclass('public.good')") is not None
        assert await conn.fetchval("SELECT to_regclass('public.half')") is None
        assert await conn.fetchval("SELECT count(*) FROM public.ipai_migrations") == 1
    finally:
        await conn.close()


async def test_0013_moves_each_tenants_postings_to_its_indexed_partition(empty_db_url: str, tmp_path: Path) -> None:
    """Postings written before 0013 (two tenants) end up in their tenants' partitions, indexed, unchanged
    but for their terms' ids, which 0016 makes hashes; 0017 moves each tenant's vocabulary to its own
    indexed partition."""
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.name < "0013":
            (tmp_path / path.name).write_text(path.read_text())
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrate(conn, tmp_path)
        for tenant in ("default", "acme"):
            async with conn.transaction():
                await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant)
                doc = await conn.fetchval(
                    """INSERT INTO rag.documents (tenant_id, external_id, content, content_hash)
                       VALUES ($1, 'd', 'x', 'h') RETURNING id""", tenant)
                await conn.execute(
                    """INSERT INTO rag.chunks (document_id, tenant_id, ordinal, content, content_hash, token_count,
                                               char_start, char_end)
                       VALUES ($1, $2, 0, $3, 'h', 9, 0, 9)""", doc, tenant, f"invoices of {tenant} are paid")
        async with conn.transaction():  # a tenant whose only chunk waits in the lexical backlog
            await conn.execute("SELECT set_config('app.tenant_id', 'later', true)")
            await conn.execute("SELECT set_config('rag.defer_lexical', 'on', true)")
            doc = await conn.fetchval("""INSERT INTO rag.documents (tenant_id, external_id, content, content_hash)
                                         VALUES ('later', 'd', 'x', 'h') RETURNING id""")
            await conn.execute("""INSERT INTO rag.chunks (document_id, tenant_id, ordinal, content, content_hash,
                                                          token_count, char_start, char_end)
                                  VALUES ($1, 'later', 0, 'receipts of later', 'h', 3, 0, 17)""", doc)
        # By lexeme: 0016 gives every term a new id (a hash) and moves its postings to it.
        query = """SELECT p.tenant_id, t.lexeme, p.chunk_id, p.tf, p.doc_len, p.impact
                     FROM rag.postings AS p JOIN rag.term_stats AS t ON t.tenant_id = p.tenant_id AND t.id = p.term_id
                    ORDER BY 1, 2"""
        before = await conn.fetch(query)
        assert {r["tenant_id"] for r in before} == {"default", "acme"}
        assert len(before) == await conn.fetchval("SELECT count(*) FROM rag.postings")
        await migrate(conn)
        assert await conn.fetch(query) == before
        assert len(before) == await conn.fetchval("SELECT count(*) FROM rag.postings")
        assert await conn.fetchval(
            "SELECT count(*) FROM rag.term_stats WHERE id <> rag.term_id_v1(tenant_id, language, lexeme)") == 0
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', 'later', true)")
            assert await conn.fetchval("SELECT rag.index_backlog_v3(100)") == 1
        assert await conn.fetchval("SELECT count(*) FROM rag.postings WHERE tenant_id = 'later'") == 2
        for tenant in ("default", "acme"):
            partition = await conn.fetchval("SELECT rag.postings_partition_v1($1)", tenant)
            assert await conn.fetchval(f"SELECT count(*) FROM rag.{partition} WHERE tenant_id <> $1", tenant) == 0
            assert sorted(await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = $1", partition)) \
                == sorted([(f"{partition}_chunk",), (f"{partition}_impact",)])
        for tenant in ("default", "acme", "later"):  # 0017: each tenant's vocabulary in its partition
            partition = await conn.fetchval("SELECT rag.term_stats_partition_v1($1)", tenant)
            assert await conn.fetchval(f"SELECT count(*) FROM rag.{partition} WHERE tenant_id = $1", tenant) > 0
            assert await conn.fetchval(f"SELECT count(*) FROM rag.{partition} WHERE tenant_id <> $1", tenant) == 0
            assert sorted(await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = $1", partition)) \
                == [(f"{partition}_lexeme_trgm",), (f"{partition}_pkey",)]
    finally:
        await conn.close()
