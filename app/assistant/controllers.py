"""POST /v1/ask: a grounded, cited answer; with stream=true, Server-Sent Events."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.response import Response, ServerSentEvent, ServerSentEventMessage

from app.assistant.schemas import AskIn, AskOut, CitationOut, ask_out, hits_out
from app.errors import IpaiError
from app.problems import decode_json
from app.services import Services
from retrieval.retriever import Filters


def filters_of(services: Services, f: Any) -> Filters:
    languages = [services.languages.resolve(x) for x in f.languages] if f.languages else None
    return Filters(f.sources, languages, f.document_ids, f.metadata, f.updated_from, f.updated_to)


def sse(event: str, data: Any) -> ServerSentEventMessage:
    return ServerSentEventMessage(event=event, data=msgspec.json.encode(data).decode())


async def answer_events(
    events: AsyncIterator[tuple[str, Any]], done: Callable[[Any], Any] = ask_out
) -> AsyncIterator[ServerSentEventMessage]:
    """Assistant events as typed SSE messages; a failure mid-stream becomes an `error` event."""
    try:
        async for kind, payload in events:
            if kind == "retrieval":
                yield sse("retrieval", {"hits": hits_out(payload)})
            elif kind == "delta":
                yield sse("delta", {"text": payload})
            elif kind == "citation":
                yield sse("citation", CitationOut(**vars(payload)))
            elif kind == "done":
                yield sse("done", done(payload))
    except IpaiError as exc:
        yield sse("error", {"status": exc.status_code, "title": exc.title, "detail": exc.detail})


class AskController(Controller):
    path = "/v1/ask"
    tags = ["assistant"]

    @post("", operation_id="ask", status_code=200)
    async def ask(self, request: Request, services: Services, tenant_id: str) -> Response[AskOut]:
        """Answer a question from the knowledge base with verified citations (stream=true for SSE)."""
        body = decode_json(await request.body(), AskIn)
        if not 1 <= body.k <= 50:
            from app.errors import InvalidInput

            raise InvalidInput("k must be between 1 and 50")
        assistant = services.assistant
        question = assistant.check_question(body.question)
        filters = filters_of(services, body.filters)
        if body.stream:
            events = assistant.ask_stream(question, tenant_id=tenant_id, k=body.k, filters=filters)
            return ServerSentEvent(answer_events(events))
        return Response(ask_out(await assistant.ask(question, tenant_id=tenant_id, k=body.k, filters=filters)))
