"""HybridRetriever.search(): embeds the query and calls rag.hybrid_search; Python only passes parameters."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from sql.db import Db
from sql.errors import InvalidInput, PayloadTooLarge
from sql.values import check_json
from ingest.embedding import Embedder
from ingest.tokens import count_tokens
from retrieval.snippets import marker, snippet
from sql.queries import q

STAGES = ("terms", "vector", "lexical", "trigram", "fusion")
"""A hybrid search's stages in the database, in the order rag.hybrid_search_v2 times them."""

DEFAULTS_FILE = Path(__file__).resolve().parent / "defaults.json"
MODES = ("hybrid", "vector", "lexical", "trigram")
MAX_K = 1000
MAX_RESULT_WINDOW = 10_000
MAX_QUERY_TOKENS = 2_000
LONG_QUERY_TOKENS = 128
"""A query longer than this (a pasted paragraph, not a question) waits for one of LONG_QUERY_SLOTS turns."""
LONG_QUERY_SLOTS = max(1, (os.cpu_count() or 2) // 2)
"""As long as a question may be: a query's terms bound each leg's work (a 94,000-character query took 2-4 s)."""
MAX_QUERY_CHARS = 16 * MAX_QUERY_TOKENS  # offset + k: deeper pages cost more than any reader of a ranked list needs


@dataclass(frozen=True)
class Filters:
    """Restrictions on which documents may match."""

    sources: list[str] | None = None
    languages: list[str] | None = None
    document_ids: list[int] | None = None
    metadata: dict[str, Any] | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None


@dataclass(frozen=True)
class SearchParams:
    """Fusion and leg parameters; defaults come from retrieval/defaults.json (tuned on train splits)."""

    w_vector: float = 1.0
    w_lexical: float = 1.0
    w_trigram: float = 0.0
    fusion: str = "rrf"
    rrf_k: float = 60.0
    candidates: int = 100
    postings_depth: int = 1000
    trigram_threshold: float = 0.3
    k1: float = 1.2
    b: float = 0.75
    ef_search: int = 100

    @classmethod
    def defaults(cls, path: Path = DEFAULTS_FILE) -> SearchParams:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        known = {k: v for k, v in data.get("params", {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def for_mode(self, mode: str) -> SearchParams:
        """The same parameters with the legs a mode does not use switched off."""
        if mode not in MODES:
            raise InvalidInput(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if mode == "hybrid":
            return self
        weights = {"vector": (1.0, 0.0, 0.0), "lexical": (0.0, 1.0, 0.0), "trigram": (0.0, 0.0, 1.0)}[mode]
        return replace(self, w_vector=weights[0], w_lexical=weights[1], w_trigram=weights[2])


@dataclass
class Hit:
    """One retrieved chunk (with each leg's rank and raw score for explain)."""

    chunk_id: int
    document_id: int
    external_id: str
    title: str
    source: str
    section_path: str
    content: str
    char_start: int
    char_end: int
    version: int
    snippet: str | None
    score: float
    legs: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    flags: list[tuple[int, int]] = field(default_factory=list)
    """Spans of content flagged at ingest as instructions to the assistant (read when search asks for them)."""


@dataclass(frozen=True)
class TermCounts:
    """Words of a query against the tenant's lexical index: each one's chunk count (df), how many chunks the index
    counts, each word's lexeme, and for a word no chunk holds, the index's nearest terms (trigrams)."""

    df: dict[str, int]
    chunks: int
    lexemes: dict[str, str]
    near: dict[str, list[str]]


class HybridRetriever:
    """Query -> ranked chunks through one call of rag.hybrid_search."""

    def __init__(self, db: Db, embedder: Embedder, params: SearchParams | None = None,
                 observe_stages: Callable[[dict[str, float]], None] | None = None, stage_sample: int = 8) -> None:
        """observe_stages: receives, for one search in stage_sample, the milliseconds each stage that ran took in
        the database (terms, vector, lexical, trigram, fusion), as rag.hybrid_search_v2 publishes them."""
        self.db = db
        self.embedder = embedder
        self.params = params or SearchParams.defaults()
        self.observe_stages = observe_stages
        self.stage_sample = max(1, stage_sample)
        self._searches = 0
        self.long_queries = asyncio.Semaphore(LONG_QUERY_SLOTS)
        """Long queries take turns on a few connections, so that a flood of them leaves the pool to others."""

    async def embed_query(self, query: str) -> np.ndarray:
        return (await self.embedder.embed([query]))[0]

    async def search(
        self, query: str, *, tenant_id: str, k: int = 10, mode: str = "hybrid",
        filters: Filters | None = None, params: SearchParams | None = None, offset: int = 0,
        match_threshold: float = 0.0, collapse: bool = False, snippets: bool = True,
        query_embedding: np.ndarray | None = None, model: str | None = None,
        conn: asyncpg.Connection | None = None, flags: bool = False,
    ) -> list[Hit]:
        """flags: also read each hit's flagged spans (one more statement in the same transaction)."""
        query = (query or "").strip()
        if not query:
            raise InvalidInput("the query is empty")
        if not 1 <= k <= MAX_K:
            raise InvalidInput(f"k must be between 1 and {MAX_K}, got {k}")
        if not 0 <= offset < MAX_RESULT_WINDOW:
            raise InvalidInput(f"offset must be between 0 and {MAX_RESULT_WINDOW - 1}, got {offset}")
        k = min(k, MAX_RESULT_WINDOW - offset)  # the pages end with the best MAX_RESULT_WINDOW hits
        if not -1.0 <= match_threshold <= 1.0:
            raise InvalidInput("match_threshold is a cosine similarity between -1 and 1")
        size = len(query.encode())  # a token is at least one byte: a short query need not be counted
        tokens = size if size <= LONG_QUERY_TOKENS else count_tokens(query) if len(query) <= MAX_QUERY_CHARS \
            else MAX_QUERY_TOKENS + 1
        if tokens > MAX_QUERY_TOKENS:
            raise PayloadTooLarge(f"the query is longer than {MAX_QUERY_TOKENS:,} tokens; shorten it")
        p = (params or self.params).for_mode(mode)
        f = filters or Filters()
        if f.metadata is not None:
            check_json(f.metadata, "filters.metadata")
        if p.w_vector > 0 and query_embedding is None:
            query_embedding = await self.embed_query(query)
        if p.w_vector == 0:
            query_embedding = None
        if query_embedding is not None and len(query_embedding) != self.embedder.dimensions and model is None:
            raise InvalidInput(
                f"query embedding has {len(query_embedding)} dimensions; the model expects {self.embedder.dimensions}"
            )
        args = (
            query_embedding, query, match_threshold, k, tenant_id, model or (self.embedder.name if p.w_vector else None),
            p.w_vector, p.w_lexical, p.w_trigram, p.fusion, p.rrf_k, offset,
            f.sources, f.languages, f.document_ids, f.metadata, f.updated_from, f.updated_to,
            collapse, p.candidates, p.postings_depth, p.trigram_threshold, p.k1, p.b, False, p.ef_search,
        )  # snippets are made here, on the page (retrieval.snippets), not by ts_headline in the database
        sql = q("hybrid_search")
        try:
            async with self.long_queries if tokens > LONG_QUERY_TOKENS else contextlib.nullcontext():
                stages = self._stages_to_time(p)
                if conn is not None:
                    hits = await self._hits(conn, sql, args, flags, stages)
                else:  # a search may lag its writes a little: a read replica serves it, if any
                    reader = await self.db.reader(tenant_id)
                    # the search function takes the tenant: one statement, no transaction; explain's flags (under
                    # row-level security) and the stage times the function publishes for its transaction are
                    # read in the tenant's transaction
                    async with (reader.acquire() if flags or stages else reader.unbound()) as c:
                        hits = await self._hits(c, sql, args, flags, stages)
                    # the caller waiting for the freed connection sends its search before this one goes on to
                    # make its snippets: under load the searches keep their turns (a lower p99)
                    await asyncio.sleep(0)
        except (asyncpg.InvalidParameterValueError, asyncpg.DataError, asyncpg.UndefinedObjectError) as exc:
            raise InvalidInput(str(exc)) from exc
        if snippets:
            pattern = marker(query)
            for hit in hits:
                hit.snippet = snippet(hit.content, pattern)
        return hits

    async def term_frequencies(self, tenant_id: str, words: Sequence[str]) -> TermCounts:
        """How many of the tenant's chunks hold each word (as the lexical index stems it), how many chunks the
        index counts (0 while it is empty or deferred), and the vocabulary's nearest terms to each word no chunk
        holds."""
        if not words:
            return TermCounts({}, 0, {}, {})
        async with (await self.db.reader(tenant_id)).acquire() as conn:
            rows = await conn.fetch(q("term_frequencies"), tenant_id, list(words))
        return TermCounts({r["word"]: int(r["df"]) for r in rows}, int(rows[0]["chunks"]) if rows else 0,
                          {r["word"]: r["lexeme"] for r in rows}, {r["word"]: list(r["near"] or ()) for r in rows})

    def _stages_to_time(self, p: SearchParams) -> list[str] | None:
        """The stages whose times this search reports (one search in stage_sample): those that ran."""
        if self.observe_stages is None:
            return None
        self._searches += 1
        if self._searches % self.stage_sample:
            return None
        ran = {"vector": p.w_vector > 0, "lexical": p.w_lexical > 0, "trigram": p.w_trigram > 0}
        return [stage for stage in STAGES if ran.get(stage, True)]

    async def _hits(self, conn: asyncpg.Connection, sql: str, args: tuple[Any, ...], flags: bool,
                    stages: list[str] | None = None) -> list[Hit]:
        hits = [_hit(r) for r in await conn.fetch(sql, *args)]
        if stages and self.observe_stages is not None:
            published = await conn.fetchval(q("search_stages"))
            if published:
                times = dict(zip(STAGES, (float(v) for v in published.split(","))))
                self.observe_stages({stage: times[stage] for stage in stages})
        if flags and hits:
            flagged = {r["id"]: r["flags"] for r in await conn.fetch(q("chunk_flags"), [h.chunk_id for h in hits])}
            for hit in hits:
                hit.flags = [(f["start"], f["end"]) for f in flagged.get(hit.chunk_id) or ()]
        return hits


def _hit(r: asyncpg.Record) -> Hit:
    legs = {
        leg: {"rank": r[f"{leg}_rank"], "score": r[f"{leg}_score"]}
        for leg in ("vector", "lexical", "trigram")
    }
    return Hit(
        chunk_id=r["chunk_id"], document_id=r["document_id"], external_id=r["external_id"], title=r["title"],
        source=r["source"], section_path=r["section_path"], content=r["content"], char_start=r["char_start"],
        char_end=r["char_end"], version=r["version"], snippet=r["snippet"], score=r["score"], legs=legs,
    )
