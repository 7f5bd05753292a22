"""Request and response contracts of POST /v1/search."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from app.params import RowId


class SearchFilters(msgspec.Struct, forbid_unknown_fields=True):
    sources: list[str] | None = None
    languages: list[str] | None = None
    document_ids: list[RowId] | None = None
    metadata: dict[str, Any] | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None


class Weights(msgspec.Struct, forbid_unknown_fields=True):
    vector: float | None = None
    lexical: float | None = None
    trigram: float | None = None


class SearchIn(msgspec.Struct, forbid_unknown_fields=True):
    """A hybrid search. Leave weights, fusion and rrf_k out to use the tuned defaults."""

    query: str
    k: int = 10
    mode: Literal["hybrid", "vector", "lexical", "trigram"] = "hybrid"
    offset: int = 0
    filters: SearchFilters = msgspec.field(default_factory=SearchFilters)
    weights: Weights | None = None
    fusion: Literal["rrf", "weighted"] | None = None
    rrf_k: float | None = None
    match_threshold: float = 0.0
    explain: bool = False
    collapse: bool = False
    query_embedding: list[float] | None = None


class LegScore(msgspec.Struct):
    rank: int | None
    score: float | None


class SearchHit(msgspec.Struct):
    chunk_id: int
    document_id: int
    external_id: str
    title: str
    source: str
    section_path: str
    content: str
    snippet: str | None
    score: float
    char_start: int
    char_end: int
    version: int
    explain: dict[str, LegScore] | None = None


class SearchOut(msgspec.Struct):
    hits: list[SearchHit]
    mode: str
    offset: int
    took_ms: float
