"""POST /v1/search: the hybrid retriever over HTTP."""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from litestar import Controller, Request, post

from sql.errors import InvalidInput
from app.problems import read_body
from app.search.schemas import ChunkFlag, LegScore, SearchHit, SearchIn, SearchOut
from app.services import Services
from retrieval.retriever import Filters


class SearchController(Controller):
    path = "/v1/search"
    tags = ["search"]

    @post("", operation_id="search", status_code=200, opt={"scope": "kb:read", "body": SearchIn})
    async def search(self, request: Request, services: Services, tenant_id: str) -> SearchOut:
        """Hybrid, vector, lexical or trigram search with filters, pagination and explain."""
        body = await read_body(request)
        started = time.perf_counter()
        retriever = services.retriever
        params = retriever.params
        if body.weights is not None:
            w = body.weights
            params = replace(
                params, w_vector=params.w_vector if w.vector is None else w.vector,
                w_lexical=params.w_lexical if w.lexical is None else w.lexical,
                w_trigram=params.w_trigram if w.trigram is None else w.trigram,
            )
        if body.fusion is not None:
            params = replace(params, fusion=body.fusion)
        if body.rrf_k is not None:
            params = replace(params, rrf_k=body.rrf_k)
        f = body.filters
        languages = [services.languages.resolve(x) for x in f.languages] if f.languages else None
        hits = await retriever.search(
            body.query, k=body.k, mode=body.mode, tenant_id=tenant_id, offset=body.offset,
            filters=Filters(f.sources, languages, f.document_ids, f.metadata, f.updated_from, f.updated_to),
            params=params, match_threshold=body.match_threshold, collapse=body.collapse,
            query_embedding=_query_vector(body.query_embedding), flags=body.explain,
        )
        return SearchOut(
            hits=[
                SearchHit(
                    chunk_id=h.chunk_id, document_id=h.document_id, external_id=h.external_id, title=h.title,
                    source=h.source, section_path=h.section_path, content=h.content, snippet=h.snippet,
                    score=h.score, char_start=h.char_start, char_end=h.char_end, version=h.version,
                    explain={k: LegScore(**v) for k, v in h.legs.items()} if body.explain else None,
                    flags=[ChunkFlag("instruction", a, b) for a, b in h.flags] if body.explain else None,
                )
                for h in hits
            ],
            mode=body.mode, offset=body.offset, took_ms=round((time.perf_counter() - started) * 1000, 2),
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
