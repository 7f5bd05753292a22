"""Chat models behind one small protocol: any OpenAI-compatible server through the openai client."""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from sql.errors import UpstreamError
from ingest.tokens import count_tokens


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int


class ChatModel(Protocol):
    name: str
    context_window: int

    async def complete(self, messages: Sequence[dict[str, str]], *, json_schema: dict | None = None) -> Completion:
        ...

    def stream(self, messages: Sequence[dict[str, str]]) -> AsyncIterator[str]:
        ...


class OpenAIChat:
    """Chat completions over the openai client (timeouts and 429/5xx retries with backoff are the
    client's own `timeout` and `max_retries`); a call that still fails is an UpstreamError (503)."""

    def __init__(self, client: object, model: str, *, max_tokens: int = 512, context_window: int = 16_000) -> None:
        self._client = client
        self.name = model
        self.max_tokens = max_tokens
        self.context_window = context_window

    async def complete(self, messages: Sequence[dict[str, str]], *, json_schema: dict | None = None) -> Completion:
        import openai

        kwargs: dict[str, object] = {"model": self.name, "messages": list(messages), "max_tokens": self.max_tokens}
        if json_schema is not None:
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "result", "schema": json_schema, "strict": True}}
        try:
            response = await self._client.chat.completions.create(**kwargs)  # type: ignore[attr-defined]
        except openai.APIError as exc:
            raise UpstreamError(f"the language model failed: {exc.__class__.__name__}") from exc
        text = response.choices[0].message.content or ""
        usage = response.usage
        prompt = usage.prompt_tokens if usage else sum(count_tokens(m["content"]) for m in messages)
        completion = usage.completion_tokens if usage else count_tokens(text)
        return Completion(text, prompt, completion)

    async def stream(self, messages: Sequence[dict[str, str]]) -> AsyncIterator[str]:
        import openai

        try:
            response = await self._client.chat.completions.create(  # type: ignore[attr-defined]
                model=self.name, messages=list(messages), max_tokens=self.max_tokens, stream=True)
            async for chunk in response:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.APIError as exc:
            raise UpstreamError(f"the language model failed: {exc.__class__.__name__}") from exc
