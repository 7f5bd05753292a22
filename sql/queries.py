"""Named queries from sql/queries.sql, loaded once: `-- name: x` starts the query called x."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

QUERIES_FILE = Path(__file__).resolve().parent / "queries.sql"


@lru_cache(maxsize=1)
def _load() -> dict[str, str]:
    text = QUERIES_FILE.read_text(encoding="utf-8")
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2])}


def q(name: str) -> str:
    """The SQL text of a named query (KeyError for a name that does not exist)."""
    return _load()[name]
