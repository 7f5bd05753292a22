"""Request and response contracts of POST /v1/search."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from app.params import Language, NonBlank, RowId, stated
from retrieval.retriever import MAX_K, MAX_RESULT_WINDOW

FLOAT32_MAX = 3.4028234663852886e38

Timestamp = Annotated[datetime, stated("an RFC 3339 timestamp", format="date-time")]


class SearchFilters(msgspec.Struct, forbid_unknown_fields=True):
    sources: list[str] | None = None
    languages: list[Language] | None = None
    document_ids: list[RowId] | None = None
    metadata: dict[str, Any] | None = None
    updated_from: Timestamp | None = None
    updated_to: Timestamp | None = None


Weight = Annotated[float, stated("a leg's weight in the fusion, 0 or more", minimum=0)]


class Weights(msgspec.Struct, forbid_unknown_fields=True):
    vector: Weight | None = None
    lexical: Weight | None = None
    trigram: Weight | None = None


class SearchIn(msgspec.Struct, forbid_unknown_fields=True):
    """A hybrid search. Leave weights, fusion and rrf_k out to use the tuned defaults."""

    query: NonBlank
    k: Annotated[int, stated(f"hits per page, 1 to {MAX_K}", minimum=1, maximum=MAX_K)] = 10
    mode: Literal["hybrid", "vector", "lexical", "trigram"] = "hybrid"
    offset: Annotated[int, stated(f"hits to skip; the pages end after the best {MAX_RESULT_WINDOW} hits",
                                  minimum=0, maximum=MAX_RESULT_WINDOW - 1)] = 0
    filters: SearchFilters = msgspec.field(default_factory=SearchFilters)
    weights: Weights | None = None
    fusion: Literal["rrf", "weighted"] | None = None
    rrf_k: Annotated[float, stated("reciprocal rank fusion's k, above 0", exclusiveMinimum=0)] | None = None
    match_threshold: Annotated[float, stated("the least cosine similarity of a vector hit",
                                             minimum=-1, maximum=1)] = 0.0
    explain: bool = False
    collapse: bool = False
    query_embedding: list[Annotated[float, stated(
        "a float32", minimum=-FLOAT32_MAX, maximum=FLOAT32_MAX)]] | None = None


class LegScore(msgspec.Struct):
    rank: int | None
    score: float | None


class ChunkFlag(msgspec.Struct):
    """A span of a chunk's content (offsets into it) flagged at ingest."""

    kind: str
    start: int
    end: int


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
    flags: list[ChunkFlag] | None = None
    """With explain: the spans of content flagged at ingest as instructions to the assistant (never quoted)."""


class SearchOut(msgspec.Struct):
    hits: list[SearchHit]
    mode: str
    offset: int
    took_ms: float
