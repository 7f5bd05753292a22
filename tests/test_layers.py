"""The layers point one way: app -> (ingest, retrieval) -> sql (the database layer); eval uses them all and
nothing uses eval. Every import counts, those inside functions too."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "ingest", "retrieval", "sql", "eval")
ALLOWED = {
    "sql": set(),
    "ingest": {"sql"},
    "retrieval": {"sql", "ingest"},  # the retriever embeds queries with ingest's embedders
    "app": {"sql", "ingest", "retrieval"},
    "eval": {"sql", "ingest", "retrieval", "app"},
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def violations(root: Path = ROOT) -> list[str]:
    out = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for target in sorted(imported_packages(path) - ALLOWED[package] - {package}):
                out.append(f"{path.relative_to(root)} imports {target}")
    return out


def test_no_layer_imports_a_higher_one() -> None:
    assert violations() == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "ingest" / "x.py").write_text("def f():\n    from app.settings import get_settings\n")
    (tmp_path / "sql" / "y.py").write_text("import retrieval.retriever\n")
    assert violations(tmp_path) == ["ingest/x.py imports app", "sql/y.py imports retrieval"]
