"""Question-sentence similarity for the extractive answerer: sentence vectors and, with the local model,
token-level matching; both cached per sentence."""
from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from app.assistant.extractive import QUESTION_WORDS, SIMILARITY_COLUMNS, STOPWORDS
from ingest.embedding import Embedder, TokenEncoding

_CONTENT_TOKEN = re.compile(r"^(?:##)?[^\W_]+$")
_NOT_CONTENT = STOPWORDS | QUESTION_WORDS


def token_similarity(question: TokenEncoding, sentence: TokenEncoding, content: np.ndarray) -> tuple[float, ...]:
    """The three token columns of SIMILARITY_COLUMNS; content marks the question's content tokens."""
    if not len(question.tokens) or not len(sentence.tokens):
        return 0.0, 0.0, 0.0
    sim = question.token_vectors.astype(np.float32) @ sentence.token_vectors.astype(np.float32).T
    best = sim.max(axis=1)
    return float(best.mean()), float(best[content].mean() if content.any() else best.mean()), float(sim.max(axis=0).mean())


def whole_words(encoding: TokenEncoding) -> list[tuple[str, np.ndarray]]:
    """The encoding's words, each with the normalised mean of its word pieces' vectors."""
    words: list[tuple[str, list[np.ndarray]]] = []
    for token, vector in zip(encoding.tokens, encoding.token_vectors.astype(np.float32)):
        if token.startswith("##") and words:
            words[-1] = (words[-1][0] + token[2:], [*words[-1][1], vector])
        else:
            words.append((token, [vector]))
    out = []
    for word, vectors in words:
        mean = np.mean(vectors, axis=0)
        out.append((word, mean / (np.linalg.norm(mean) or 1.0)))
    return out


def plain(word: str) -> str:
    """A word as an uncased word-piece model spells it: lower case, accents dropped ("Café" -> "cafe")."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(ch))


def whole_word_vectors(encoding: TokenEncoding) -> np.ndarray:
    words = whole_words(encoding)
    return np.stack([v for _, v in words]) if words else np.zeros((0, encoding.token_vectors.shape[1]), np.float32)


class SentenceSimilarity:
    """One row of SIMILARITY_COLUMNS per sentence, with the knowledge base's embedder; the token columns
    are zero unless the embedder gives token vectors (the local model does). Retrieved passages repeat
    from question to question, so sentence vectors are kept (least recently used out first), and so are
    token vectors, fewer of them (they are some 30 times larger)."""

    def __init__(self, embedder: Embedder, max_cached: int = 50_000, max_cached_tokens: int = 8_192) -> None:
        self.embedder = embedder
        self.max_cached = max_cached
        self.max_cached_tokens = max_cached_tokens
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._tokens: OrderedDict[str, TokenEncoding] = OrderedDict()

    @property
    def model(self) -> str:
        return self.embedder.name

    @property
    def tokens(self) -> bool:
        """Whether the embedder gives token vectors (else the token columns are zero)."""
        return hasattr(self.embedder, "encode_tokens")

    async def encode(self, question: str) -> TokenEncoding:
        """The question's sentence and token vectors, in one pass of the model (needs `tokens`)."""
        return (await self.embedder.encode_tokens([question]))[0]  # type: ignore[attr-defined]

    async def __call__(self, question: str, sentences: Sequence[str], encoded: TokenEncoding | None = None
                       ) -> np.ndarray:
        """encoded: the question's encode(), if the caller has it."""
        out = np.zeros((len(sentences), len(SIMILARITY_COLUMNS)))
        if not self.tokens:
            missing = [s for s in dict.fromkeys(sentences) if s not in self._vectors]
            vectors = await self.embedder.embed([question, *missing])
            q_vector = vectors[0]
            self._remember(self._vectors, zip(missing, vectors[1:]), sentences, self.max_cached)
        else:
            missing = [s for s in dict.fromkeys(sentences) if s not in self._tokens or s not in self._vectors]
            texts = missing if encoded is not None else [question, *missing]
            encodings = await self.embedder.encode_tokens(texts) if texts else []  # type: ignore[attr-defined]
            q = encoded if encoded is not None else encodings[0]
            fresh = list(zip(missing, encodings if encoded is not None else encodings[1:]))
            q_vector = q.vector
            self._remember(self._vectors, ((s, e.vector) for s, e in fresh), sentences, self.max_cached)
            self._remember(self._tokens, fresh, sentences, self.max_cached_tokens)
            content = np.array([bool(_CONTENT_TOKEN.match(t)) and t.lstrip("#") not in _NOT_CONTENT
                                for t in q.tokens], dtype=bool)
            for i, text in enumerate(sentences):
                out[i, 1:] = token_similarity(q, self._tokens[text], content)
        if sentences:
            out[:, 0] = np.stack([self._vectors[text] for text in sentences]) @ q_vector
        return out

    async def word_similarity(self, question: TokenEncoding, words: Sequence[str], texts: Sequence[str]
                              ) -> dict[str, float]:
        """For each of the question's words (lower-case), its best cosine with a word of the texts (contextual
        vectors, a word's pieces averaged): how close the texts come to it in meaning, 0 when the question does
        not hold the word. Needs `tokens`; the texts' encodings come from the cache when they are there."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._tokens]
        encodings = await self.embedder.encode_tokens(missing) if missing else []  # type: ignore[attr-defined]
        self._remember(self._tokens, zip(missing, encodings), texts, self.max_cached_tokens)
        wanted = {plain(w): w for w in words}  # the model's vocabulary is lower-case, without accents
        asked = {wanted[w]: v for w, v in whole_words(question) if w in wanted}
        if not asked or not texts:
            return {w: 0.0 for w in words}
        held = np.concatenate([whole_word_vectors(self._tokens[t]) for t in dict.fromkeys(texts)])
        return {w: float((held @ asked[w]).max()) if w in asked else 0.0 for w in words}

    @staticmethod
    def _remember(cache: OrderedDict, fresh: object, used: Sequence[str], limit: int) -> None:
        """Add the fresh entries, mark the used ones recent, drop the least recent beyond the limit (never
        one in use)."""
        cache.update(fresh)  # type: ignore[arg-type]
        for text in used:
            cache.move_to_end(text)
        while len(cache) > max(limit, len(used)):
            cache.popitem(last=False)
