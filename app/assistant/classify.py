"""Intent classification: an LLM with schema-validated structured output, or offline embedding
similarity to label descriptions plus fuzzy keyword evidence (rapidfuzz)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import msgspec
import numpy as np
from rapidfuzz import fuzz

from app.assistant.llm import ChatModel
from app.params import NonBlank
from sql.errors import InvalidInput, UpstreamError
from ingest.embedding import Embedder


@dataclass(frozen=True)
class Label:
    name: str
    description: str
    keywords: tuple[str, ...] = field(default_factory=tuple)


DEFAULT_LABELS = (
    Label("question", "A question asking for information or an explanation of how something is or works.",
          ("what is", "why", "which", "is it", "does", "explain")),
    Label("how-to", "A request for step-by-step instructions on how to do a task in the software.",
          ("how do i", "how to", "how can i", "steps", "configure", "set up", "create")),
    Label("bug report", "A report that something is broken, fails, shows an error or behaves wrongly.",
          ("error", "bug", "crash", "broken", "fails", "not working", "traceback", "exception", "wrong")),
    Label("feature request", "A request for a new capability, improvement or option that does not exist yet.",
          ("feature", "would be nice", "please add", "could you add", "support for", "request", "wish")),
    Label("billing", "About invoices, payments, prices, subscriptions, refunds or charges of the customer.",
          ("invoice", "payment", "price", "charge", "refund", "subscription", "billing", "credit card")),
    Label("account", "About the user's account: login, password, access rights, users, profile settings.",
          ("login", "password", "log in", "sign in", "account", "access", "permission", "2fa", "username")),
    Label("other", "Anything else: greetings, feedback, or messages unrelated to the product.", ("thanks", "hello")),
)


class LabelIn(msgspec.Struct, forbid_unknown_fields=True):
    name: NonBlank
    description: str = ""
    keywords: list[str] = []


@dataclass
class Classification:
    label: str
    confidence: float
    scores: dict[str, float]
    method: str


def resolve_labels(labels: list[str | LabelIn] | None) -> list[Label]:
    if labels is None:
        return list(DEFAULT_LABELS)
    if len(labels) < 2 or len({msgspec.json.encode(item) for item in labels}) != len(labels):
        raise InvalidInput("labels must be two or more items, none repeated")
    merged: dict[str, Label] = {}  # a name given twice (as a string and described) is one label
    for item in labels:
        label = (Label(item, item, (item,)) if isinstance(item, str) else
                 Label(item.name, item.description or item.name, tuple(item.keywords) or (item.name,)))
        if not label.name.strip():
            raise InvalidInput("a label's name is empty")
        same = merged.get(label.name)
        if same is not None:
            keywords = tuple(dict.fromkeys(same.keywords + label.keywords))
            description = label.description if same.description == same.name else same.description
            label = Label(label.name, description, keywords)
        merged[label.name] = label
    return list(merged.values())


def softmax(values: np.ndarray, temperature: float) -> np.ndarray:
    z = (values - values.max()) / temperature
    e = np.exp(z)
    return e / e.sum()


class Classifier:
    def __init__(self, embedder: Embedder, llm: ChatModel | None = None) -> None:
        self.embedder = embedder
        self.llm = llm

    async def classify(self, text: str, labels: list[Label]) -> Classification:
        text = (text or "").strip()
        if not text:
            raise InvalidInput("the text to classify is empty")
        if self.llm is not None:
            return await self._llm(text, labels)
        return await self.offline(text, labels)

    async def offline(self, text: str, labels: list[Label]) -> Classification:
        vectors = await self.embedder.embed([text] + [f"{label.name}: {label.description}" for label in labels])
        similarity = vectors[1:] @ vectors[0]
        lower = text.lower()
        # Keyword evidence: how many of a label's keywords occur (near-verbatim, typos tolerated), saturating.
        evidence = np.array([
            min(1.0, sum(1 for k in label.keywords if fuzz.partial_ratio(k.lower(), lower) >= 85) / 2)
            for label in labels])
        combined = 0.6 * similarity + 0.4 * evidence
        probabilities = softmax(combined, 0.08)
        best = int(np.argmax(probabilities))
        scores = {label.name: round(float(p), 4) for label, p in zip(labels, probabilities)}
        return Classification(labels[best].name, round(float(probabilities[best]), 4), scores, "embedding+fuzzy")

    async def _llm(self, text: str, labels: list[Label]) -> Classification:
        names = [label.name for label in labels]
        schema = {"type": "object", "additionalProperties": False, "required": ["label", "confidence"],
                  "properties": {"label": {"type": "string", "enum": names},
                                 "confidence": {"type": "number", "minimum": 0, "maximum": 1}}}
        described = "\n".join(f"- {label.name}: {label.description}" for label in labels)
        messages = [{"role": "system", "content": "Classify the user's message into exactly one label. "
                     f"Labels:\n{described}\nReply with JSON: {{\"label\": ..., \"confidence\": 0..1}}."},
                    {"role": "user", "content": text}]
        completion = await self.llm.complete(messages, json_schema=schema)  # type: ignore[union-attr]
        try:
            data = json.loads(completion.text)
            label, confidence = data["label"], float(data["confidence"])
            if label not in names or not 0 <= confidence <= 1:
                raise ValueError(f"label {label!r} or confidence {confidence} outside the schema")
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamError(f"the language model's classification did not match the schema: {exc}") from exc
        scores = {n: (confidence if n == label else round((1 - confidence) / (len(names) - 1), 4)) for n in names}
        return Classification(label, confidence, scores, f"llm:{self.llm.name}")  # type: ignore[union-attr]
