"""POST /v1/chat, GET /v1/chat/sessions/{id}, and the OpenAI-compatible POST /v1/chat/completions."""
from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.response import Response, ServerSentEvent, Stream

from app.assistant.controllers import ANSWER_EVENTS, answer_events
from app.assistant.schemas import ask_out
from app.assistant.llm import Sampling
from app.chat.schemas import (
    SESSION_ID, ChatIn, ChatOut, CompletionIn, MessageOut, ModelList, ModelOut, SessionOut,
)
from app.chat.service import ChatService, Turn, parse_session_id
from sql.errors import BadRequest, InvalidInput, IpaiError, NotFound
from app.params import stated_param
from app.problems import status_of
from app.security.auth import acting_user
from app.security.keys import Principal
from app.services import Services
from sql.queries import q

MODEL = "ipai-rag"
STARTED = int(time.time())
"""The served model's "created" time: when this process started."""
IGNORED_HEADER = "X-Ipai-Ignored-Parameters"
"""Names the generation options (max_tokens, temperature, stop) the extractive answerer did not apply."""


SessionIdPath = Annotated[str, stated_param(**SESSION_ID)]


def chat_out(turn: Turn) -> ChatOut:
    return ChatOut(session_id=str(turn.session_id), standalone_query=turn.standalone_query, reply=ask_out(turn.answer))


class ChatController(Controller):
    path = "/v1/chat"
    tags = ["assistant"]

    @post("", operation_id="chat", status_code=200, opt={"scope": "ask", "streams": ANSWER_EVENTS})
    async def chat(self, data: ChatIn, services: Services, tenant_id: str,
                   principal: Principal) -> Response[ChatOut]:
        """One chat turn: a follow-up is resolved against the session's history before retrieval."""
        user_id = acting_user(principal, data.user_id)
        chat = ChatService(services, tenant_id)
        session_id = parse_session_id(data.session_id)
        if data.stream:
            await chat.prepare(session_id, data.message)  # bad input is a 4xx before the stream starts
            events = chat.turn_stream(session_id, data.message, user_id=user_id, k=data.k)
            return ServerSentEvent(answer_events(events, done=chat_out))
        return Response(chat_out(await chat.turn(session_id, data.message, user_id=user_id, k=data.k)))

    @get("/sessions/{session_id:str}", operation_id="chatSession", opt={"scope": "ask"})
    async def session(self, services: Services, tenant_id: str, session_id: SessionIdPath) -> SessionOut:
        """A session and its messages, oldest first."""
        sid = parse_session_id(session_id)
        chat = ChatService(services, tenant_id)
        messages = await chat.history(sid)  # type: ignore[arg-type]
        row = await chat.db.fetchrow(q("chat_session_row"), sid, tenant_id)
        return SessionOut(id=str(sid), title=row["title"], user_id=row["user_id"], created_at=row["created_at"],
                          updated_at=row["updated_at"], messages=[MessageOut(**m) for m in messages])

    @post("/completions", operation_id="chatCompletions", status_code=200,
          opt={"scope": "ask", "streams": ()})  # (): data-only events, as OpenAI streams them
    async def completions(self, data: CompletionIn, services: Services, tenant_id: str) -> Response[Any]:
        """OpenAI-compatible chat completions answered from the knowledge base (model `ipai-rag`)."""
        if data.model != MODEL:
            raise NotFound(f"the model {data.model!r} does not exist; this server serves {MODEL!r} (GET /v1/models)")
        if data.tools or data.functions:
            raise BadRequest("tools and functions are not supported: the assistant answers from the knowledge base; "
                             "send the request without them")
        stop = [data.stop] if isinstance(data.stop, str) else data.stop
        sampling = Sampling(data.max_tokens, data.temperature, stop or None)
        # The extractive answerer generates nothing: the options it cannot honour are named in the response.
        ignored = sampling.given() if services.assistant.llm is None else []
        headers = {IGNORED_HEADER: ", ".join(ignored)} if ignored else None
        turns = [(m.role, _text(m.content)) for m in data.messages]
        users = [i for i, (role, text) in enumerate(turns) if role == "user" and text.strip()]
        if not users:
            raise InvalidInput("messages must contain a user message with text (the question)")
        question = turns[users[-1]][1]
        history = [{"role": r, "content": c} for r, c in turns[:users[-1]] if r in ("user", "assistant")]
        chat = ChatService(services, tenant_id)
        previous = [{"role": m["role"], "content": m["content"], "standalone_query": None} for m in history]
        query = await chat.standalone(services.assistant.check_question(question), previous)
        created = int(time.time())
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        if data.stream:
            events = services.assistant.ask_stream(question, tenant_id=tenant_id, search_query=query, history=history,
                                                   sampling=sampling)
            return Stream(_openai_chunks(events, completion_id, created), media_type="text/event-stream",
                          headers=headers)
        answer = await services.assistant.ask(question, tenant_id=tenant_id, search_query=query, history=history,
                                              sampling=sampling)
        out = ask_out(answer)
        return Response({
            "id": completion_id, "object": "chat.completion", "created": created, "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": answer.answer}}],
            "usage": msgspec.to_builtins(out.usage),
            "citations": msgspec.to_builtins(out.citations), "grounded": answer.grounded,
            **({"ignored_parameters": ignored} if ignored else {}),
        }, headers=headers)


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = (part.get("text") for part in content if isinstance(part, dict))
    return " ".join(text for text in texts if isinstance(text, str))


async def _openai_chunks(events: AsyncIterator[tuple[str, Any]], completion_id: str, created: int) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return b"data: " + msgspec.json.encode(body) + b"\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for kind, payload in events:
            if kind == "delta":
                yield chunk({"content": payload})
            elif kind == "done":
                out = ask_out(payload)
                yield chunk({}, "stop", usage=msgspec.to_builtins(out.usage),
                            citations=msgspec.to_builtins(out.citations))
    except IpaiError as exc:
        yield b"data: " + msgspec.json.encode({"error": {"message": exc.detail, "code": status_of(exc)}}) + b"\n\n"
    yield b"data: [DONE]\n\n"


class ModelsController(Controller):
    """The models the OpenAI-compatible facade serves (chat UIs list them before they chat)."""

    path = "/v1/models"
    tags = ["assistant"]

    @get("", operation_id="listModels", opt={"scope": "ask"})
    async def list_models(self, services: Services) -> ModelList:
        """The models served: one, the knowledge base's assistant."""
        return ModelList(data=[_model(services)])

    @get("/{model_id:str}", operation_id="getModel", opt={"scope": "ask"})
    async def get_model(self, services: Services, model_id: str) -> ModelOut:
        """One served model; 404 for any other name, as OpenAI answers."""
        if model_id != MODEL:
            raise NotFound(f"the model {model_id!r} does not exist; this server serves {MODEL!r}")
        return _model(services)


def _model(services: Services) -> ModelOut:
    return ModelOut(id=MODEL, created=STARTED, owned_by="ipai-rag",
                    answered_by=services.assistant.model)
