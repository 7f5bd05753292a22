"""The assistant: retrieve, decide whether the knowledge base covers the question, answer, verify citations."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.metrics import ANSWERS
from app.assistant.answer_log import AnswerLog
from app.assistant.citations import Citation, Removed, citation, verify
from app.assistant.coverage import MIN_TERM_MEANING, key_terms, lacks_quantity, rare, unknown_names, unwritten
from app.assistant.extractive import ExtractiveAnswerer, Passage, SentenceCandidate, sentence_candidates
from app.assistant.llm import ChatModel, Sampling
from app.assistant.prompting import SYSTEM_PROMPT, pack_context, sanitise, user_message
from app.assistant.similarity import SentenceSimilarity
from sql.errors import InvalidInput, PayloadTooLarge, UpstreamError
from ingest.embedding import TokenEncoding
from ingest.tokens import count_tokens
from retrieval.retriever import Filters, Hit, HybridRetriever

NOT_COVERED = "The knowledge base does not cover this question."
MAX_QUESTION_TOKENS = 2_000
MAX_KEY_TERMS = 32
"""The question's key terms checked against the cited passage: the first 32 (a long question costs no more than
one index lookup of at most 32 words)."""


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Answer:
    answer: str
    short_answer: str | None
    citations: list[Citation]
    grounded: bool
    usage: Usage
    model: str
    removed_citations: list[Removed] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    answer_id: int | None = None
    """The recorded answer's id (what feedback refers to), when the assistant keeps an answer log."""


class Assistant:
    """Answers from the knowledge base with an LLM when one is configured, else extractively."""

    def __init__(
        self, retriever: HybridRetriever, llm: ChatModel | None = None, *, extractive: ExtractiveAnswerer | None = None,
        min_similarity: float = 0.3, context_tokens: int = 3_000, allowed_hosts: frozenset[str] = frozenset(),
        similarity: SentenceSimilarity | None = None, log: AnswerLog | None = None,
    ) -> None:
        """similarity: question-sentence similarity for the extractive answerer (used when its sentence
        scorer was trained with the same embedding model)."""
        self.retriever = retriever
        self.llm = llm
        self.extractive = extractive or ExtractiveAnswerer()
        self.similarity = similarity
        self.min_similarity = min_similarity
        self.context_tokens = context_tokens
        self.allowed_hosts = allowed_hosts
        self.log = log

    @property
    def model(self) -> str:
        return self.llm.name if self.llm else "extractive"

    @staticmethod
    def check_question(question: str) -> str:
        question = (question or "").strip()
        if not question:
            raise InvalidInput("the question is empty")
        if count_tokens(question) > MAX_QUESTION_TOKENS:
            raise PayloadTooLarge(f"the question is longer than {MAX_QUESTION_TOKENS} tokens; shorten it")
        return question

    async def retrieve(self, question: str, *, tenant_id: str, k: int, filters: Filters | None = None,
                       search_query: str | None = None, user_id: str | None = None,
                       query_embedding: np.ndarray | None = None) -> list[Hit]:
        """Hits from the tenant's knowledge base and, for a user, from that user's own memory."""
        query = search_query or question
        hits = await self.retriever.search(query, k=k, tenant_id=tenant_id, filters=filters,
                                           query_embedding=query_embedding, flags=True)
        if user_id:
            own = await self.retriever.search(query, k=k, tenant_id=memory_namespace(tenant_id, user_id),
                                              query_embedding=query_embedding, flags=True)
            hits = sorted(hits + own, key=lambda h: -h.score)[:k]
        return hits

    def relevant(self, hits: list[Hit]) -> bool:
        """Something was retrieved that shares terms with the question or is semantically close to it."""
        for hit in hits:
            if hit.legs["lexical"]["score"] is not None:
                return True
            if (hit.legs["trigram"]["score"] or 0) >= 0.5:
                return True
            if (hit.legs["vector"]["score"] or 0) >= self.min_similarity:
                return True
        return False

    async def ask(self, question: str, *, tenant_id: str, k: int = 5, filters: Filters | None = None,
                  search_query: str | None = None, history: list[dict[str, str]] | None = None,
                  user_id: str | None = None, sampling: Sampling | None = None) -> Answer:
        """sampling: the caller's generation options (honoured by a model; the extractive answerer has none).
        The answer is recorded (answer_id) when the assistant keeps an answer log."""
        try:
            answer = await self._ask(question, tenant_id=tenant_id, k=k, filters=filters, search_query=search_query,
                                     history=history, user_id=user_id, sampling=sampling)
        except UpstreamError:
            ANSWERS.labels("error").inc()
            raise
        return await self._recorded(answer, tenant_id, question, search_query)

    async def _recorded(self, answer: Answer, tenant_id: str, question: str, search_query: str | None) -> Answer:
        ANSWERS.labels("answered" if answer.grounded else "declined").inc()
        if self.log is not None:
            answer.answer_id = await self.log.record(tenant_id, question.strip(), search_query, answer)
        return answer

    async def _ask(self, question: str, *, tenant_id: str, k: int, filters: Filters | None,
                   search_query: str | None, history: list[dict[str, str]] | None, user_id: str | None,
                   sampling: Sampling | None) -> Answer:
        question = self.check_question(question)
        encoded = await self._encoded_question(search_query or question)
        hits = await self.retrieve(question, tenant_id=tenant_id, k=k, filters=filters, search_query=search_query,
                                   user_id=user_id, query_embedding=encoded.vector if encoded else None)
        if not self.relevant(hits):
            return Answer(NOT_COVERED, None, [], False, Usage(count_tokens(question), 0), self.model, hits=hits)
        if self.llm is None:
            return await self._extractive(search_query or question, hits, encoded, tenant_id)
        context, messages = self._prompt(question, hits, history)
        completion = await self.llm.complete(messages, sampling=sampling)
        return self._finish(completion.text, context, Usage(completion.prompt_tokens, completion.completion_tokens))

    def _prompt(self, question: str, hits: list[Hit], history: list[dict[str, str]] | None
                ) -> tuple[list[Hit], list[dict[str, str]]]:
        """Sources packed to the budget, then as much recent history as the model's window still holds."""
        assert self.llm is not None
        room = self.llm.context_window - getattr(self.llm, "max_tokens", 512) - count_tokens(SYSTEM_PROMPT)
        context = pack_context(hits, min(self.context_tokens, room - count_tokens(question) - 200))
        user = {"role": "user", "content": user_message(question, context)}
        room -= count_tokens(user["content"])
        kept: list[dict[str, str]] = []
        for message in reversed(history or []):
            room -= count_tokens(message["content"]) + 4
            if room < 0:
                break
            kept.append(message)
        return context, [{"role": "system", "content": SYSTEM_PROMPT}, *reversed(kept), user]

    def _finish(self, text: str, context: list[Hit], usage: Usage) -> Answer:
        text = sanitise(text, self.allowed_hosts)
        cleaned, citations, removed = verify(text, context)
        return Answer(cleaned, None, citations, bool(citations), usage, self.model, removed, context)

    def _similarity_usable(self) -> bool:
        """The extractive answerer's similarities come from the embedding model its weights were trained
        with, token columns included; otherwise it uses its lexical weights."""
        return (self.similarity is not None and self.similarity.model == self.extractive.similarity_model
                and self.similarity.tokens)

    async def _encoded_question(self, focus: str) -> TokenEncoding | None:
        """The extractive answerer encodes the question token by token anyway: that same pass gives the
        vector the retriever needs (one pass of the model per ask instead of two)."""
        if self.llm is not None or not self._similarity_usable():
            return None
        assert self.similarity is not None
        return await self.similarity.encode(focus)

    async def sentence_similarity(self, question: str, passages: list[Passage], candidates: list[SentenceCandidate],
                                  encoded: TokenEncoding | None = None) -> np.ndarray | None:
        """Question-sentence similarities for the extractive answerer (see _similarity_usable), or None."""
        if not self._similarity_usable() or not candidates:
            return None
        assert self.similarity is not None
        # A sentence is read under its section's heading: in a manual, "Click Save." means what its section is
        # about (and the heading is often what a paraphrased question names).
        texts = [in_context(passages[c.passage].topic, c.text(passages)) for c in candidates]
        return await self.similarity(question, texts, encoded)

    async def _extractive(self, question: str, hits: list[Hit], encoded: TokenEncoding | None,
                          tenant_id: str) -> Answer:
        """One to three whole sentences of one block of a retrieved passage, when the retrieved text names what
        the question names; else the knowledge base does not cover the question. question: the standalone
        question (a chat's follow-up resolved)."""
        prompt_tokens = count_tokens(question) + sum(count_tokens(h.content) for h in hits)
        declined = Answer(NOT_COVERED, None, [], False, Usage(prompt_tokens, 0), self.model, hits=hits)
        if unknown_names(question, [" ".join((h.title, h.section_path, h.content)) for h in hits]):
            return declined  # decided before any sentence is scored: it depends on the retrieved text alone
        passages = [Passage(h.content, i + 1, h.score, headings(h), tuple(h.flags), topic(h))
                    for i, h in enumerate(hits)]
        candidates = sentence_candidates(passages)
        similarity = await self.sentence_similarity(question, passages, candidates, encoded)
        found = self.extractive.extract(question, passages, similarity, candidates)
        if found is None or found.support < self.extractive.min_support:
            return declined
        hit = hits[found.passage]
        quote = hit.content[found.sentence_start:found.sentence_end]
        if lacks_quantity(question, quote):
            return declined
        cited = [in_context(passages[c.passage].topic, c.text(passages)) for c in candidates
                 if c.passage == found.passage]
        if await self.uncovered_terms(question, tenant_id, hit, cited, encoded):
            return declined
        text = f"{sanitise(quote, self.allowed_hosts)} [{found.passage + 1}]"
        short = found.short.strip()
        short = short if short and short != quote.strip() else None
        cite = citation(found.passage + 1, hit, found.sentence_start, found.sentence_end)
        return Answer(text, short, [cite], True, Usage(prompt_tokens, count_tokens(text)), self.model, hits=hits)

    async def uncovered_terms(self, question: str, tenant_id: str, hit: Hit, sentences: list[str],
                              encoded: TokenEncoding | None) -> list[str]:
        """The question's key terms that the knowledge base (almost) never uses and that the cited passage
        neither writes (its title and section included) nor, when the embedder gives word vectors, comes close to
        in meaning (sentences: the passage's sentences as the similarity reads them)."""
        missing = unwritten(key_terms(question)[:MAX_KEY_TERMS], " ".join((hit.title, hit.section_path, hit.content)))
        if not missing:
            return []
        scarce = rare(await self.retriever.term_frequencies(tenant_id, missing))
        if scarce and encoded is not None and self._similarity_usable():
            assert self.similarity is not None
            close = await self.similarity.word_similarity(encoded, scarce, sentences)
            scarce = [w for w in scarce if close[w] < MIN_TERM_MEANING]
        return scarce

    async def ask_stream(self, question: str, **kwargs: Any) -> AsyncIterator[tuple[str, Any]]:
        """Typed events: retrieval, delta, citation, done; or error."""
        tenant_id = kwargs["tenant_id"]
        question = self.check_question(question)
        encoded = await self._encoded_question(kwargs.get("search_query") or question)
        hits = await self.retrieve(question, tenant_id=tenant_id, k=kwargs.get("k", 5), filters=kwargs.get("filters"),
                                   search_query=kwargs.get("search_query"), user_id=kwargs.get("user_id"),
                                   query_embedding=encoded.vector if encoded else None)
        yield "retrieval", hits
        if not self.relevant(hits) or self.llm is None:
            answer = (await self._extractive(kwargs.get("search_query") or question, hits, encoded, tenant_id)
                      if self.relevant(hits)
                      else Answer(NOT_COVERED, None, [], False, Usage(count_tokens(question), 0), self.model, hits=hits))
            for piece in _pieces(answer.answer):
                yield "delta", piece
        else:
            context, messages = self._prompt(question, hits, kwargs.get("history"))
            parts: list[str] = []
            async for piece in self.llm.stream(messages, sampling=kwargs.get("sampling")):
                parts.append(piece)
                yield "delta", piece
            text = "".join(parts)
            usage = Usage(sum(count_tokens(m["content"]) for m in messages), count_tokens(text))
            answer = self._finish(text, context, usage)
        for cite in answer.citations:
            yield "citation", cite
        yield "done", await self._recorded(answer, tenant_id, question, kwargs.get("search_query"))


def headings(hit: Hit) -> frozenset[str]:
    """The title and section headings of a hit: a block of its text equal to one of them is a heading."""
    return frozenset(filter(None, (hit.title, *hit.section_path.split(" > "))))


def topic(hit: Hit) -> str:
    """The nearest heading over a hit: its section's, else its document's title."""
    return hit.section_path.split(" > ")[-1].strip() or hit.title


def in_context(topic: str, sentence: str) -> str:
    """The text whose meaning is compared with the question: the sentence under its heading (unless it
    names the heading itself)."""
    return f"{topic}: {sentence}" if topic and topic.lower() not in sentence.lower() else sentence


def memory_namespace(tenant_id: str, user_id: str) -> str:
    """Where a user's memory items live: a namespace of their own inside the tenant."""
    return f"{tenant_id}:memory:{user_id}"[:64]


def _pieces(text: str, size: int = 24) -> list[str]:
    words = text.split(" ")
    return [" ".join(words[i:i + size]) + (" " if i + size < len(words) else "") for i in range(0, len(words), size)]
