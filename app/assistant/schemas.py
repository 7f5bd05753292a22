"""Request and response contracts of the assistant endpoints."""
from __future__ import annotations

from typing import Annotated, Any

import msgspec

from app.params import NonBlank
from app.search.schemas import SearchFilters


ChunkCount = Annotated[int, msgspec.Meta(ge=1, le=50)]
"""How many chunks an answer may draw on."""


class AskIn(msgspec.Struct, forbid_unknown_fields=True):
    """A question for the knowledge base."""

    question: NonBlank
    k: ChunkCount = 5
    filters: SearchFilters = msgspec.field(default_factory=SearchFilters)
    stream: bool = False
    user_id: str | None = None


class CitationOut(msgspec.Struct):
    n: int
    chunk_id: int
    document_id: int
    title: str
    source: str
    version: int
    char_start: int
    char_end: int
    quote: str


class RemovedOut(msgspec.Struct):
    marker: str
    reason: str


class UsageOut(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AskOut(msgspec.Struct):
    answer: str
    short_answer: str | None
    citations: list[CitationOut]
    grounded: bool
    usage: UsageOut
    model: str
    removed_citations: list[RemovedOut]
    answer_id: int | None = None
    """The recorded answer: POST /v1/feedback rates it."""


class HitOut(msgspec.Struct):
    chunk_id: int
    document_id: int
    title: str
    source: str
    section_path: str
    score: float


def ask_out(answer: Any) -> AskOut:
    return AskOut(
        answer=answer.answer, short_answer=answer.short_answer,
        citations=[CitationOut(**vars(c)) for c in answer.citations], grounded=answer.grounded,
        usage=UsageOut(answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens),
        model=answer.model, removed_citations=[RemovedOut(**vars(r)) for r in answer.removed_citations],
        answer_id=answer.answer_id,
    )


def hits_out(hits: list[Any]) -> list[HitOut]:
    return [HitOut(h.chunk_id, h.document_id, h.title, h.source, h.section_path, h.score) for h in hits]
