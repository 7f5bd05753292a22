"""Citation checking: every [n] must name a retrieved chunk whose text supports the sentence citing it."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.assistant.extractive import content_words, sentences
from retrieval.retriever import Hit

MARKER = re.compile(r"\[(\d{1,3})\]")


@dataclass
class Citation:
    n: int
    chunk_id: int
    document_id: int
    title: str
    source: str
    version: int
    char_start: int
    char_end: int
    quote: str


@dataclass
class Removed:
    marker: str
    reason: str


def citation(n: int, hit: Hit, start: int, end: int) -> Citation:
    """A citation of hit.content[start:end], with offsets into the document text."""
    return Citation(n=n, chunk_id=hit.chunk_id, document_id=hit.document_id, title=hit.title, source=hit.source,
                    version=hit.version, char_start=hit.char_start + start, char_end=hit.char_start + end,
                    quote=hit.content[start:end])


def best_quote(claim: str, hit: Hit) -> tuple[int, int, float]:
    """The sentence of the chunk that shares most content words with the claim (offsets, share)."""
    words = set(content_words(claim))
    best = (0, min(len(hit.content), 300), 0.0)
    for start, end in sentences(hit.content):
        present = set(content_words(hit.content[start:end]))
        share = len(words & present) / len(words) if words else 0.0
        if share > best[2]:
            best = (start, end, share)
    return best


def verify(answer: str, hits: Sequence[Hit], min_share: float = 0.15) -> tuple[str, list[Citation], list[Removed]]:
    """Keep [n] markers that point at a retrieved chunk supporting their sentence; remove the rest."""
    kept: dict[int, Citation] = {}
    removed: list[Removed] = []
    spans = sentences(answer) or [(0, len(answer))]

    def check(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if not 1 <= n <= len(hits):
            removed.append(Removed(m.group(0), f"source {n} was not retrieved for this request"))
            return ""
        sentence = next((answer[a:b] for a, b in spans if a <= m.start() < b + 1), answer)
        claim = MARKER.sub("", sentence)
        start, end, share = best_quote(claim, hits[n - 1])
        if share < min_share and content_words(claim):
            removed.append(Removed(m.group(0), f"source {n} does not support the sentence citing it"))
            return ""
        if n not in kept:
            quote = hits[n - 1].content[start:end]
            if quote not in hits[n - 1].content:  # pragma: no cover - a slice always occurs
                removed.append(Removed(m.group(0), "quote not found in the source"))
                return ""
            kept[n] = citation(n, hits[n - 1], start, end)
        return m.group(0)

    cleaned = MARKER.sub(check, answer)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip()
    return cleaned, [kept[n] for n in sorted(kept)], removed
