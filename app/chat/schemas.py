"""Request and response contracts of the chat endpoints and the OpenAI-compatible facade."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from app.assistant.schemas import AskOut, ChunkCount
from app.params import NOT_SPACE, NonBlank, stated

SESSION_ID = {"description": "a chat session's UUID", "format": "uuid"}  # parse_session_id's rule
SessionId = Annotated[str, stated(**SESSION_ID)]


class ChatIn(msgspec.Struct, forbid_unknown_fields=True):
    message: NonBlank
    session_id: SessionId | None = None
    stream: bool = False
    user_id: str | None = None
    k: ChunkCount = 5


class ChatOut(msgspec.Struct):
    session_id: str
    standalone_query: str
    reply: AskOut


class MessageOut(msgspec.Struct):
    id: int
    role: str
    content: str
    standalone_query: str | None
    citations: list[dict[str, Any]]
    usage: dict[str, Any]
    grounded: bool | None
    created_at: datetime


class SessionOut(msgspec.Struct):
    id: str
    title: str
    user_id: str | None
    created_at: datetime
    updated_at: datetime
    messages: list[MessageOut]


class OpenAIMessage(msgspec.Struct):
    role: str
    content: Annotated[str | list[dict[str, Any]], stated(
        "the message's text (or text parts)")] | None = None


NOT_SERVED = stated("not served: the assistant answers from the knowledge base (empty or absent)", maxItems=0)


class CompletionIn(msgspec.Struct):
    """OpenAI chat.completions request; unknown OpenAI fields are accepted and ignored."""

    messages: Annotated[list[OpenAIMessage], stated(
        "the conversation; the last user message with text is the question",
        contains={"type": "object", "required": ["role", "content"], "properties": {
            "role": {"const": "user"},
            "content": {"anyOf": [{"type": "string", "pattern": NOT_SPACE}, {"type": "array", "contains": {
                "type": "object", "required": ["text"], "properties": {"text": {"type": "string", "pattern": NOT_SPACE}}}}]},
        }})]
    model: str = "ipai-rag"
    stream: bool = False
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    stop: str | list[str] | None = None
    tools: Annotated[list[dict[str, Any]], NOT_SERVED] | None = None
    """Tool calling is not served: a request with tools is refused (400) rather than answered without them."""
    functions: Annotated[list[dict[str, Any]], NOT_SERVED] | None = None


class ModelOut(msgspec.Struct):
    """A model as OpenAI's API lists it; answered_by: what writes the answers (a chat model, or extractive)."""

    id: str
    created: int
    owned_by: str
    answered_by: str
    object: str = "model"


class ModelList(msgspec.Struct):
    data: list[ModelOut]
    object: str = "list"
