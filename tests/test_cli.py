"""The command line, run as a user would: ingest --wait, search, export -> ingest, ask, chat, migrate."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import asyncpg


def run(args: list[str], db_url: str, tmp_path: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": db_url, "EMBEDDING_PROVIDER": "hash", "IPAI_DATA_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True,
                          input=stdin, timeout=180, cwd=Path(__file__).resolve().parent.parent)


async def last_vacuums(db_url: str) -> set[str]:
    """The knowledge-base tables (of four) that a manual VACUUM has visited (postings and term_stats: their
    partitions)."""
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            """SELECT CASE relname WHEN rag.postings_partition_v1('default') THEN 'postings'
                                   WHEN rag.term_stats_partition_v1('default') THEN 'term_stats' ELSE relname END
                      AS relname
                 FROM pg_stat_user_tables WHERE schemaname = 'rag' AND last_vacuum IS NOT NULL
                  AND relname IN (rag.postings_partition_v1('default'), rag.term_stats_partition_v1('default'),
                                  'chunks', 'chunk_embeddings')""")
    finally:
        await conn.close()
    return {r["relname"] for r in rows}


def test_ingest_search_export_roundtrip_ask_and_chat(db_url: str, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "refunds.md").write_text("# Refunds\n\nA credit note refunds a posted invoice. The clerk is Maria Santos.")
    (docs / "sub" / "payroll.rst").write_text("Payroll\n=======\n\nPayslips are computed monthly.\n")
    (docs / "sub" / "scan.txt").write_bytes(b"\xff\xfe\x00\x81")  # a loader refuses it; the others are stored
    out = run(["ingest", str(docs), "--source", "handbook", "--wait", "--vacuum-after", "2"], db_url, tmp_path)
    assert out.returncode == 1, out.stderr
    assert f"skipped {docs / 'sub' / 'scan.txt'}: sub/scan.txt is not text" in out.stderr
    assert "2 new" in out.stdout and "1 skipped" in out.stdout and "embedded in" in out.stdout
    assert "vacuumed and analyzed" in out.stdout
    assert asyncio.run(last_vacuums(db_url)) == {"postings", "term_stats", "chunks", "chunk_embeddings"}

    out = run(["search", "credit note refund", "-k", "2"], db_url, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[2].strip().startswith("1") and "Refunds" in out.stdout.splitlines()[2]

    export = tmp_path / "kb.ndjson"
    out = run(["export", "--out", str(export)], db_url, tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in export.read_text().splitlines()]
    assert {x["external_id"] for x in lines} == {"refunds.md", "sub/payroll.rst"}
    out = run(["ingest", str(export)], db_url, tmp_path)
    assert "0 new, 0 updated, 2 unchanged" in out.stdout, "an export read back is unchanged"

    out = run(["ask", "Who is the clerk?"], db_url, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Maria Santos" in out.stdout and "[1] Refunds" in out.stdout

    out = run(["chat"], db_url, tmp_path, stdin="Who is the clerk?\nand payslips?\n\n")
    assert out.returncode == 0, out.stderr
    assert "Maria Santos" in out.stdout and "session " in out.stdout

    out = run(["search", ""], db_url, tmp_path)
    assert out.returncode == 2 and "empty" in out.stderr


def test_migrate_reports_up_to_date(db_url: str, tmp_path: Path) -> None:
    out = run(["migrate"], db_url, tmp_path)
    assert out.returncode == 0 and "nothing (up to date)" in out.stdout


def test_keys_and_vault_commands(db_url: str, tmp_path: Path) -> None:
    import base64
    import os

    out = run(["keys", "create", "--tenant", "acme", "--scopes", "ask,kb:read"], db_url, tmp_path)
    assert out.returncode == 0, out.stderr
    key_id, token = out.stdout.split()[2], out.stdout.splitlines()[1]
    assert token.startswith("ipai_")
    assert run(["keys", "revoke", key_id], db_url, tmp_path).returncode == 2, "another tenant's key"
    assert run(["keys", "revoke", key_id, "--tenant", "acme"], db_url, tmp_path).returncode == 0
    assert run(["keys", "revoke", key_id, "--tenant", "acme"], db_url, tmp_path).returncode == 2, "already revoked"
    key = base64.b64encode(os.urandom(32)).decode()
    env_extra = {"IPAI_VAULT_KEY": key}
    import subprocess
    import sys

    base_env = {"DATABASE_URL": db_url, "EMBEDDING_PROVIDER": "hash", "IPAI_DATA_DIR": str(tmp_path),
                "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env_extra}
    cwd = Path(__file__).resolve().parent.parent
    put = subprocess.run([sys.executable, "-m", "app.cli", "vault", "put", "token"], env=base_env, input="s3cret\n",
                         capture_output=True, text=True, cwd=cwd, timeout=120)
    assert put.returncode == 0 and "version 1" in put.stdout, put.stderr
    denied = subprocess.run([sys.executable, "-m", "app.cli", "vault", "get", "token", "--bot", "nobody"],
                            env=base_env, capture_output=True, text=True, cwd=cwd, timeout=120)
    assert denied.returncode == 2 and "may not read" in denied.stderr and "s3cret" not in denied.stderr + denied.stdout
