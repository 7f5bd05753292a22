"""A search as the API defines it (SearchIn -> SearchOut), for the REST endpoint and the MCP tool alike."""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from opentelemetry import trace

from app.metrics import SEARCH_DURATION
from app.search.schemas import ChunkFlag, LegScore, SearchHit, SearchIn, SearchOut
from app.services import Services
from retrieval.retriever import Filters
from sql.errors import InvalidInput

TRACER = trace.get_tracer("ipai-rag")


async def run_search(services: Services, tenant_id: str, data: SearchIn) -> SearchOut:
    """Hybrid, vector, lexical or trigram search with filters, pagination and explain."""
    started = time.perf_counter()
    with SEARCH_DURATION.labels(data.mode).time(), TRACER.start_as_current_span(
            "search", attributes={"ipai.mode": data.mode, "ipai.k": data.k, "ipai.tenant": tenant_id}):
        return await _search(services, tenant_id, data, started)


async def _search(services: Services, tenant_id: str, data: SearchIn, started: float) -> SearchOut:
    retriever = services.retriever
    params = retriever.params
    if data.weights is not None:
        w = data.weights
        params = replace(
            params, w_vector=params.w_vector if w.vector is None else w.vector,
            w_lexical=params.w_lexical if w.lexical is None else w.lexical,
            w_trigram=params.w_trigram if w.trigram is None else w.trigram,
        )
    if data.fusion is not None:
        params = replace(params, fusion=data.fusion)
    if data.rrf_k is not None:
        params = replace(params, rrf_k=data.rrf_k)
    f = data.filters
    languages = [services.languages.resolve(x) for x in f.languages] if f.languages else None
    hits = await retriever.search(
        data.query, k=data.k, mode=data.mode, tenant_id=tenant_id, offset=data.offset,
        filters=Filters(f.sources, languages, f.document_ids, f.metadata, f.updated_from, f.updated_to),
        params=params, match_threshold=data.match_threshold, collapse=data.collapse,
        query_embedding=_query_vector(data.query_embedding), flags=data.explain,
    )
    return SearchOut(
        hits=[
            SearchHit(
                chunk_id=h.chunk_id, document_id=h.document_id, external_id=h.external_id, title=h.title,
                source=h.source, section_path=h.section_path, content=h.content, snippet=h.snippet,
                score=h.score, char_start=h.char_start, char_end=h.char_end, version=h.version,
                explain={k: LegScore(**v) for k, v in h.legs.items()} if data.explain else None,
                flags=[ChunkFlag("instruction", a, b) for a, b in h.flags] if data.explain else None,
            )
            for h in hits
        ],
        mode=data.mode, offset=data.offset, took_ms=round((time.perf_counter() - started) * 1000, 2),
    )


def _query_vector(values: list[float] | None) -> np.ndarray | None:
    """A caller's query embedding as float32; values beyond float32 (they would become infinite) are a 4xx."""
    if not values:
        return None
    with np.errstate(over="ignore"):
        vector = np.asarray(values, dtype=np.float32)
    if not np.isfinite(vector).all():
        raise InvalidInput("query_embedding holds a value that is not a finite float32 number")
    return vector
