"""Multi-turn chat: history in PostgreSQL, follow-ups resolved into standalone queries, atomic turns."""
from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from app.assistant.coverage import names_a_thing
from app.assistant.extractive import BRAND, QUESTION_WORDS, STOPWORDS, content_words, norm, words
from app.assistant.llm import ChatModel
from app.assistant.service import Answer, Assistant
from sql.errors import InvalidInput, NotFound
from app.services import Services
from sql.queries import q

HISTORY_TURNS = 6
_FOLLOW_UP = re.compile(r"^\s*(and|also|what about|how about|same for|for|or|then|but)\b", re.IGNORECASE)
_PRONOUN = re.compile(r"\b(it|its|they|them|their|this|that|these|those|he|she|him|her)\b", re.IGNORECASE)

REWRITE_PROMPT = ("Rewrite the user's last message as one standalone search query, using the conversation "
                  "for context. Reply with the query only.")


GENERIC = frozenset("""do does did make use get set want need able way let like know see find keep put go happen
happens thing things someone something anyone right now first still already also again really exactly one another
other others""".split()) | {BRAND}
MAX_TOPIC_WORDS = 8


def topic_phrases(question: str) -> list[str]:
    """The key noun phrases of a question: runs of consecutive words that can name a thing (names_a_thing) and
    are not stop words, question words or generic words, longest first."""
    runs: list[list[str]] = [[]]
    for clause in re.split(r"[,;:()?!]|\.\s", question):  # a phrase never runs across punctuation
        if runs[-1]:
            runs.append([])
        for word in words(clause):
            lower = word.lower()
            if lower in STOPWORDS or lower in QUESTION_WORDS or lower in GENERIC or not names_a_thing(word):
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append(word)
    phrases = [" ".join(run) for run in runs if run]
    return sorted(phrases, key=lambda p: -len(p.split()))


_BACK_REFERENCE = re.compile(r"\b(?:the|that|those|these|this)\s+((?:[\w'’-]+\s+){0,2}[\w'’-]+)", re.IGNORECASE)


def is_follow_up(message: str, previous: str) -> bool:
    """A message that leans on the previous turn: it opens like a continuation, points back with a pronoun,
    names almost nothing itself, or refers with "the"/"that" to something the previous turn named."""
    if _FOLLOW_UP.match(message) or _PRONOUN.search(message) or len(content_words(message)) <= 2:
        return True
    named = set(content_words(previous))
    return any(set(content_words(m.group(1))) & named for m in _BACK_REFERENCE.finditer(message))


def resolve_offline(message: str, previous: str | None) -> str:
    """A follow-up ("and for credit notes?", "do those count in my valuation?") becomes a standalone question:
    the message, then the previous question's topic (its key phrases the message does not already name), in
    parentheses. Turns are never concatenated, so a chat's queries do not grow with its length."""
    if not previous or not is_follow_up(message, previous):
        return message
    named = {norm(w) for w in content_words(message)}
    carried: list[str] = []
    length = 0
    for phrase in topic_phrases(previous):
        stems = {norm(w) for w in content_words(phrase)}
        if not stems or stems <= named or length + len(phrase.split()) > MAX_TOPIC_WORDS:
            continue
        carried.append(phrase)
        named |= stems
        length += len(phrase.split())
    return f"{message.strip()} ({', '.join(carried)})" if carried else message


@dataclass
class Turn:
    session_id: uuid.UUID
    standalone_query: str
    answer: Answer


class ChatService:
    def __init__(self, services: Services, tenant_id: str) -> None:
        self.services = services
        self.tenant_id = tenant_id
        self.db = services.db.tenant(tenant_id)

    @property
    def assistant(self) -> Assistant:
        return self.services.assistant

    async def history(self, session_id: uuid.UUID) -> list[dict[str, Any]]:
        if await self.db.fetchrow(q("chat_session"), session_id, self.tenant_id) is None:
            raise NotFound(f"chat session {session_id} does not exist")
        return [dict(r) for r in await self.db.fetch(q("chat_messages"), session_id)]

    async def standalone(self, message: str, history: list[dict[str, Any]]) -> str:
        # The previous turn's standalone form: a chain of follow-ups keeps its topic (at most MAX_TOPIC_WORDS).
        previous = next((m["standalone_query"] or m["content"] for m in reversed(history) if m["role"] == "user"), None)
        llm: ChatModel | None = self.assistant.llm
        if llm is None or not history:
            return resolve_offline(message, previous)
        turns = [{"role": m["role"], "content": m["content"]} for m in history[-2 * HISTORY_TURNS:]]
        completion = await llm.complete([{"role": "system", "content": REWRITE_PROMPT}, *turns,
                                         {"role": "user", "content": message}])
        return completion.text.strip() or message

    async def prepare(self, session_id: uuid.UUID | None, message: str) -> tuple[list[dict[str, Any]], str, str]:
        message = self.assistant.check_question(message)
        history = await self.history(session_id) if session_id else []
        return history, message, await self.standalone(message, history)

    async def turn(self, session_id: uuid.UUID | None, message: str, *, user_id: str | None = None,
                   k: int = 5) -> Turn:
        history, message, query = await self.prepare(session_id, message)
        answer = await self.assistant.ask(message, tenant_id=self.tenant_id, k=k, search_query=query,
                                          history=_llm_history(history), user_id=user_id)
        session_id = await self.save(session_id, user_id, message, query, answer)
        return Turn(session_id, query, answer)

    async def turn_stream(self, session_id: uuid.UUID | None, message: str, *, user_id: str | None = None,
                          k: int = 5) -> AsyncIterator[tuple[str, Any]]:
        history, message, query = await self.prepare(session_id, message)
        async for kind, payload in self.assistant.ask_stream(message, tenant_id=self.tenant_id, k=k,
                                                             search_query=query, history=_llm_history(history),
                                                             user_id=user_id):
            if kind == "done":
                saved = await self.save(session_id, user_id, message, query, payload)
                yield "done", Turn(saved, query, payload)
            else:
                yield kind, payload

    async def save(self, session_id: uuid.UUID | None, user_id: str | None, message: str, query: str,
                   answer: Answer) -> uuid.UUID:
        """The user's message and the answer, in one transaction (a new session is created with them)."""
        citations = [asdict(c) for c in answer.citations]
        usage = {"prompt_tokens": answer.usage.prompt_tokens, "completion_tokens": answer.usage.completion_tokens}
        async with self.db.acquire() as conn:
            if session_id is None:
                session_id = await conn.fetchval(q("chat_create_session"), self.tenant_id, user_id, message[:120])
            else:
                await conn.execute(q("chat_touch_session"), session_id)
            await conn.execute(q("chat_add_message"), session_id, self.tenant_id, "user", message, query, [], {}, None)
            await conn.execute(q("chat_add_message"), session_id, self.tenant_id, "assistant", answer.answer, None,
                               citations, usage, answer.grounded)
        return session_id


def _llm_history(history: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": m["content"]} for m in history[-2 * HISTORY_TURNS:]]


def parse_session_id(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidInput(f"session_id {value!r} is not a UUID") from exc
