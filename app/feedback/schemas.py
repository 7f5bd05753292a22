"""Request and response contracts of the feedback endpoints."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from app.params import RowId

Comment = Annotated[str, msgspec.Meta(max_length=4000)]


class FeedbackIn(msgspec.Struct, forbid_unknown_fields=True):
    """A rating of one answer (its answer_id from ask, chat or completions)."""

    answer_id: RowId
    rating: Literal["up", "down"]
    comment: Comment | None = None
    user_id: Annotated[str, msgspec.Meta(max_length=256)] | None = None


class FeedbackOut(msgspec.Struct):
    id: int
    answer_id: int
    rating: str
    comment: str | None
    user_id: str | None
    created_at: datetime
    question: str
    answer: str
    grounded: bool
    citations: list[dict[str, Any]]
    retrieved: list[dict[str, Any]]


class FeedbackPage(msgspec.Struct):
    items: list[FeedbackOut]
    next_cursor: int | None


class UnansweredOut(msgspec.Struct):
    """A declined question, or an answer rated down (with the latest such comment), and what retrieval found."""

    answer_id: int
    question: str
    answer: str
    grounded: bool
    comment: str | None
    created_at: datetime
    retrieved: list[dict[str, Any]]


class UnansweredPage(msgspec.Struct):
    items: list[UnansweredOut]
    next_cursor: int | None
