"""The catalog: register, read, delete, fuzzy lookup (pg_trgm candidates re-ranked by rapidfuzz), lineage,
and the mirror that makes every active asset a citeable knowledge-base item."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from rapidfuzz import fuzz

from app.catalog.fqdn import parse_fqdn
from app.catalog.schemas import AssetOut, Edge
from sql.errors import InvalidInput, NotFound
from app.services import Services
from ingest.loaders import LoadedDocument
from ingest.pipeline import IngestOptions
from sql.queries import q

CANDIDATES = 200
THRESHOLDS = (0.7, 0.5)
ASSET_FIELDS = ("fqdn", "type", "system", "db", "model", "metadata", "owner", "tags", "status", "registered_by",
                "registered_at", "updated_at")


@dataclass
class AssetSpec:
    fqdn: str
    type: str
    metadata: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None
    tags: list[str] = field(default_factory=list)
    registered_by: str | None = None


def asset_out(row: asyncpg.Record, score: float | None = None) -> AssetOut:
    return AssetOut(**{k: row[k] for k in ASSET_FIELDS}, score=score)


def describe(spec: AssetSpec) -> str:
    """The knowledge-base text of an asset: where the data lives, in words the assistant can cite."""
    f = parse_fqdn(spec.fqdn)
    words = spec.metadata.get("description") or f.model.replace(".", " ").replace("_", " ")
    lines = [f"{words} lives at {spec.fqdn} ({spec.type}: system {f.system}, database {f.db}, model {f.model})."]
    if spec.metadata.get("modules"):
        lines.append(f"Defined by the Odoo module(s) {spec.metadata['modules']}.")
    if spec.owner:
        lines.append(f"Owner: {spec.owner}.")
    if spec.tags:
        lines.append(f"Tags: {', '.join(spec.tags)}.")
    return " ".join(lines)


def rerank_score(query: str, row: asyncpg.Record) -> float:
    """rapidfuzz on the model's words: whole-name likeness first, shared words and partial matches next."""
    words = " ".join(query.lower().replace(".", " ").replace("_", " ").split())
    name = row["name"]
    return (0.55 * fuzz.ratio(words, name) + 0.25 * fuzz.token_set_ratio(words, name)
            + 0.2 * fuzz.partial_ratio(words, name)) / 100


class Catalog:
    def __init__(self, services: Services, tenant_id: str) -> None:
        self.services = services
        self.db = services.db.tenant(tenant_id)
        self.tenant_id = tenant_id

    async def register(self, specs: Sequence[AssetSpec], *, mirror: bool = True) -> tuple[int, int]:
        """Upsert assets; returns (inserted, updated). Unchanged assets are not written."""
        if not specs:
            return 0, 0
        parsed = [parse_fqdn(s.fqdn) for s in specs]
        if len({s.fqdn for s in specs}) != len(specs):
            raise InvalidInput("the same FQDN appears twice in one registration")
        # An FQDN registered by another tenant is invisible here and left untouched (the upsert's WHERE).
        rows = await self.db.fetch(
            q("catalog_upsert"), self.tenant_id, [s.fqdn for s in specs], [s.type for s in specs],
            [p.system for p in parsed], [p.db for p in parsed], [p.model for p in parsed],
            [s.metadata for s in specs], [s.owner for s in specs], ["\x1f".join(s.tags) for s in specs],
            [s.registered_by for s in specs],
        )
        if mirror:  # only what was written: not unchanged assets, nor another tenant's FQDN
            written = {r["fqdn"] for r in rows}
            await self.mirror([s for s in specs if s.fqdn in written])
        inserted = sum(1 for r in rows if r["inserted"])
        return inserted, len(rows) - inserted

    async def mirror(self, specs: Sequence[AssetSpec]) -> None:
        docs = [LoadedDocument(external_id=s.fqdn, title=s.fqdn, text=describe(s),
                               metadata={"asset_type": s.type}, provenance={"via": "catalog"}, source="catalog")
                for s in specs]
        await self.services.pipeline.ingest(docs, IngestOptions(tenant_id=self.tenant_id, language="english"))

    async def unmirror(self, fqdns: Sequence[str]) -> None:
        await self.db.execute(q("catalog_documents_delete"), self.tenant_id, list(fqdns))

    async def get(self, fqdn: str) -> AssetOut:
        parse_fqdn(fqdn)
        row = await self.db.fetchrow(q("catalog_get"), fqdn, self.tenant_id)
        if row is None:
            raise NotFound(f"no asset {fqdn}")
        return asset_out(row)

    async def delete(self, fqdn: str) -> None:
        parse_fqdn(fqdn)
        if await self.db.fetchval(q("catalog_delete"), fqdn, self.tenant_id) is None:
            raise NotFound(f"no asset {fqdn}")
        await self.unmirror([fqdn])

    async def retire_missing(self, scope: str, seen: Sequence[str]) -> int:
        retired = [r["fqdn"] for r in await self.db.fetch(q("catalog_retire"), self.tenant_id, scope, list(seen))]
        await self.unmirror(retired)
        return len(retired)

    async def search(self, query: str | None, *, type_: str | None = None, system: str | None = None,
                     limit: int = 20, offset: int = 0, cursor: str = "") -> tuple[list[AssetOut], str | None]:
        if not 1 <= limit <= 200:
            raise InvalidInput("limit must be between 1 and 200")
        if query is None or not query.strip():
            rows = await self.db.fetch(q("catalog_list"), self.tenant_id, cursor, type_, system, limit + 1)
            items = [asset_out(r) for r in rows[:limit]]
            return items, (items[-1].fqdn if len(rows) > limit else None)
        if offset < 0:
            raise InvalidInput("offset must not be negative")
        limit = min(limit, CANDIDATES - offset)  # fuzzy lookup pages through the best CANDIDATES matches
        async with self.db.acquire() as conn:
            # A strict pass first: close matches are few and cheap to check. Only when it finds too few
            # does the looser pass run (common words can match thousands of names at the lower bar).
            for threshold in THRESHOLDS:
                rows = await conn.fetch(q("catalog_fuzzy"), query.lower(), self.tenant_id, type_, system, CANDIDATES,
                                        threshold)
                if len(rows) >= offset + limit:
                    break
        ranked = sorted(((rerank_score(query, r), r) for r in rows), key=lambda x: (-x[0], x[1]["fqdn"]))
        return [asset_out(r, round(s, 4)) for s, r in ranked[offset:offset + limit]], None

    async def link(self, edges: Sequence[tuple[str, str, str]]) -> None:
        for f, t, _ in edges:
            parse_fqdn(f)
            parse_fqdn(t)
        try:
            await self.db.execute(q("catalog_link"), self.tenant_id, [e[0] for e in edges], [e[1] for e in edges],
                                    [e[2] for e in edges])
        except asyncpg.ForeignKeyViolationError as exc:
            raise NotFound("both ends of a lineage edge must be registered assets") from exc

    async def lineage(self, fqdn: str, direction: str, depth: int) -> list[Edge]:
        await self.get(fqdn)
        if direction not in ("up", "down"):
            raise InvalidInput("direction must be up or down")
        if not 1 <= depth <= 20:
            raise InvalidInput("depth must be between 1 and 20")
        rows = await self.db.fetch(q(f"catalog_lineage_{direction}"), fqdn, depth, self.tenant_id)
        return sorted((Edge(**dict(r)) for r in rows), key=lambda e: (e.depth, e.from_fqdn, e.to_fqdn))
