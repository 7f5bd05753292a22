"""Question-sentence embedding similarity for the extractive answerer; sentence vectors are cached."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ingest.embedding import Embedder


class SentenceSimilarity:
    """Cosine of a question and each sentence, with the knowledge base's embedder. Retrieved passages
    repeat from question to question, so sentence vectors are kept (least recently used out first)."""

    def __init__(self, embedder: Embedder, max_cached: int = 50_000) -> None:
        self.embedder = embedder
        self.max_cached = max_cached
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def model(self) -> str:
        return self.embedder.name

    async def __call__(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        missing = [s for s in dict.fromkeys(sentences) if s not in self._vectors]
        vectors = await self.embedder.embed([question, *missing])
        for text, vector in zip(missing, vectors[1:]):
            self._vectors[text] = vector
        for text in sentences:
            self._vectors.move_to_end(text)
        while len(self._vectors) > self.max_cached:
            self._vectors.popitem(last=False)
        matrix = np.stack([self._vectors[text] for text in sentences]) if sentences else np.zeros((0, len(vectors[0])))
        return matrix @ vectors[0]
