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

    async def complete(self, messages: Sequence[dict[str, str]], *, json_schema: dict | None = None,
                       sampling: Sampling | None = None) -> Completion:
        ...

    def stream(self, messages: Sequence[dict[str, str]], *, sampling: Sampling | None = None
               ) -> AsyncIterator[str]:
        ...


@dataclass(frozen=True)
class Sampling:
    """Per-request generation options a caller may set (the OpenAI-compatible facade): each None keeps the
    model's own setting."""

    max_tokens: int | None = None
    temperature: float | None = None
    stop: list[str] | None = None

    def given(self) -> list[str]:
        """The names of the options that were set."""
        return [name for name in ("max_tokens", "temperature", "stop") if getattr(self, name) is not None]


class OpenAIChat:
    """Chat completions over the openai client (timeouts and 429/5xx retries with backoff are the
    client's own `timeout` and `max_retries`); a call that still fails is an UpstreamError (503)."""

    def __init__(self, client: object, model: str, *, max_tokens: int = 512, context_window: int = 16_000) -> None:
        self._client = client
        self.name = model
        self.max_tokens = max_tokens
        self.context_window = context_window

    def _options(self, sampling: Sampling | None) -> dict[str, object]:
        """max_tokens (never above the service's own limit), temperature and stop for one request."""
        options: dict[str, object] = {"max_tokens": self.max_tokens}
        if sampling is not None:
            if sampling.max_tokens is not None:
                options["max_tokens"] = min(sampling.max_tokens, self.max_tokens)
            if sampling.temperature is not None:
                options["temperature"] = sampling.temperature
            if sampling.stop:
                options["stop"] = sampling.stop
        return options

    async def complete(self, messages: Sequence[dict[str, str]], *, json_schema: dict | None = None,
                       sampling: Sampling | None = None) -> Completion:
        import openai

        kwargs: dict[str, object] = {"model": self.name, "messages": list(messages), **self._options(sampling)}
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

    async def stream(self, messages: Sequence[dict[str, str]], *, sampling: Sampling | None = None
                     ) -> AsyncIterator[str]:
        import openai

        try:
            response = await self._client.chat.completions.create(  # type: ignore[attr-defined]
                model=self.name, messages=list(messages), stream=True, **self._options(sampling))
            async for chunk in response:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.APIError as exc:
            raise UpstreamError(f"the language model failed: {exc.__class__.__name__}") from exc
