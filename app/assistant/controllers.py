"""POST /v1/ask: a grounded, cited answer; with stream=true, Server-Sent Events."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from litestar import Controller, post
from litestar.response import Response, ServerSentEvent, ServerSentEventMessage

from app.assistant.classify import Classifier, LabelIn, resolve_labels
from app.assistant.schemas import AskIn, AskOut, CitationOut, UsageOut, ask_out, hits_out
from app.assistant.service import memory_namespace
from app.assistant.summarize import STYLES, Summarizer
from sql.errors import Forbidden, InvalidInput, IpaiError, NotFound, PayloadTooLarge
from app.params import NonBlank, RowId, stated
from app.problems import status_of
from app.security.auth import acting_user
from app.security.keys import Principal
from app.services import Services
from ingest.chunking import text_hash
from ingest.loaders import LoadedDocument
from ingest.pipeline import IngestOptions
from ingest.tokens import count_tokens
from retrieval.retriever import Filters
from sql.queries import q

MAX_SUMMARY_TOKENS = 200_000


def filters_of(services: Services, f: Any) -> Filters:
    languages = [services.languages.resolve(x) for x in f.languages] if f.languages else None
    return Filters(f.sources, languages, f.document_ids, f.metadata, f.updated_from, f.updated_to)


ANSWER_EVENTS = ("retrieval", "delta", "citation", "done", "error")
"""The SSE events of a streamed answer, in order (error ends a stream that failed after it started)."""


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
        yield sse("error", {"status": status_of(exc), "title": exc.title, "detail": exc.detail})


class AskController(Controller):
    path = "/v1/ask"
    tags = ["assistant"]

    @post("", operation_id="ask", status_code=200, opt={"scope": "ask", "streams": ANSWER_EVENTS})
    async def ask(self, data: AskIn, services: Services, tenant_id: str,
                  principal: Principal) -> Response[AskOut]:
        """Answer a question from the knowledge base with verified citations (stream=true for SSE)."""
        user_id = acting_user(principal, data.user_id)
        assistant = services.assistant
        question = assistant.check_question(data.question)
        filters = filters_of(services, data.filters)
        if data.stream:
            events = assistant.ask_stream(question, tenant_id=tenant_id, k=data.k, filters=filters, user_id=user_id)
            return ServerSentEvent(answer_events(events))
        answer = await assistant.ask(question, tenant_id=tenant_id, k=data.k, filters=filters, user_id=user_id)
        return Response(ask_out(answer))


class ClassifyIn(msgspec.Struct, forbid_unknown_fields=True):
    text: NonBlank
    labels: Annotated[list[NonBlank | LabelIn], stated(
        "two or more labels (default: the built-in intents); a name given twice is one label",
        minItems=2, uniqueItems=True)] | None = None


class ClassifyOut(msgspec.Struct):
    label: str
    confidence: float
    scores: dict[str, float]
    method: str


class SummarizeIn(msgspec.Struct, forbid_unknown_fields=True):
    """Exactly one of text and document_id."""

    json_schema: ClassVar[dict[str, Any]] = {"oneOf": [  # the rule above, for app.openapi
        {"required": ["text"], "properties": {"text": {"type": "string"}}},
        {"required": ["document_id"], "properties": {"document_id": {"type": "integer"}}}]}

    text: NonBlank | None = None
    document_id: RowId | None = None
    max_tokens: Annotated[int, stated("the summary's length", minimum=16, maximum=2_000)] = 200
    style: Annotated[str, stated("the summary's form", enum=list(STYLES))] = "paragraph"


class SummarizeOut(msgspec.Struct):
    summary: str
    method: str
    sections: int
    usage: UsageOut


class MemoryIn(msgspec.Struct, forbid_unknown_fields=True):
    text: NonBlank
    user_id: NonBlank | None = None
    kind: Literal["fact", "conversation"] = "fact"
    title: str = ""


class MemoryOut(msgspec.Struct):
    document_id: int
    namespace: str
    inserted: bool


class ToolsController(Controller):
    tags = ["assistant"]

    @post("/v1/classify", operation_id="classify", status_code=200, opt={"scope": "ask"})
    async def classify(self, data: ClassifyIn, services: Services) -> ClassifyOut:
        """Route a message to an intent label (default labels or the request's own)."""
        result = await Classifier(services.embedder, services.assistant.llm).classify(
            data.text, resolve_labels(data.labels))
        return ClassifyOut(result.label, result.confidence, result.scores, result.method)

    @post("/v1/summarize", operation_id="summarize", status_code=200, opt={"scope": "ask"})
    async def summarize(self, data: SummarizeIn, services: Services, tenant_id: str) -> SummarizeOut:
        """Summarise a text or a stored document (map-reduce with an LLM, else extractive)."""
        if (data.text is None) == (data.document_id is None):
            raise InvalidInput("send exactly one of text or document_id")
        text = data.text
        if data.document_id is not None:
            row = await services.db.tenant(tenant_id).fetchrow(q("document_content"), data.document_id, tenant_id)
            if row is None:
                raise NotFound(f"document {data.document_id} does not exist")
            text = row["content"]
        if count_tokens(text or "") > MAX_SUMMARY_TOKENS:
            raise PayloadTooLarge(f"the text is longer than {MAX_SUMMARY_TOKENS} tokens")
        result = await Summarizer(services.embedder, services.assistant.llm).summarize(
            text or "", max_tokens=data.max_tokens, style=data.style)
        usage = UsageOut(result.prompt_tokens, result.completion_tokens, result.prompt_tokens + result.completion_tokens)
        return SummarizeOut(result.summary, result.method, result.sections, usage)

    @post("/v1/memory", operation_id="memory", status_code=201, opt={"scope": "ask"})
    async def memory(self, data: MemoryIn, services: Services, tenant_id: str, principal: Principal) -> MemoryOut:
        """Store a fact or conversation excerpt for one user; their later asks and chats retrieve it."""
        user_id = acting_user(principal, data.user_id)
        if user_id is None:
            raise Forbidden("an API key acts for no user of its own: name the user in user_id")
        if not user_id.strip():
            raise InvalidInput("user_id is empty")
        namespace = memory_namespace(tenant_id, user_id)
        doc = LoadedDocument(external_id=f"memory:{text_hash(data.text)[:32]}", title=data.title or data.kind,
                             text=data.text, metadata={"user_id": user_id, "kind": data.kind},
                             provenance={"via": "memory"}, source="memory")
        result = await services.pipeline.ingest([doc], IngestOptions(tenant_id=namespace))
        return MemoryOut(result.document_ids[0], namespace, bool(result.inserted))
