"""The hash embedder: its batch computation equals the plain definition, text by text."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from ingest.embedding import _WORD, HashEmbedder

TEXTS = [
    "Create a credit note from the invoice.",
    "",
    "word",
    "...",
    "İstanbul office: ÅSA straße and the İNVOICE",  # lowering 'İ' adds a combining mark, not a word character
    "v14.0 account.move/line self-billing e-mail a_b",
    "Credit note",
    "the the the the",
]


def plain(text: str, dims: int) -> np.ndarray:
    """The definition, one word at a time: blake2b of each lowered word and of each word bigram mixed,
    counted +1/-1 by the hash's top bit into hash % dims, then L2-normalised."""
    mask = (1 << 64) - 1
    words = [int.from_bytes(hashlib.blake2b(w.lower().encode(), digest_size=8).digest(), "little")
             for w in _WORD.findall(text)]
    features = words + [((a * 0x9E3779B97F4A7C15) & mask) ^ b for a, b in zip(words, words[1:])]
    vector = np.zeros(dims)
    for f in features:
        vector[f % dims] += 1.0 if f >> 63 else -1.0
    norm = np.linalg.norm(vector)
    return (vector / norm if norm else vector).astype(np.float32)


@pytest.mark.parametrize("dims", [384, 1536])
def test_a_batch_equals_the_definition_text_by_text(dims: int) -> None:
    batch = HashEmbedder(dims).embed_sync(TEXTS)
    assert batch.shape == (len(TEXTS), dims) and batch.dtype == np.float32
    for text, row in zip(TEXTS, batch):
        np.testing.assert_allclose(row, plain(text, dims), rtol=0, atol=1e-7)
    assert not batch[1].any() and not batch[3].any()  # no words: the zero vector


def test_no_bigram_crosses_two_texts_or_passes_and_the_cache_can_start_afresh() -> None:
    embedder = HashEmbedder()
    alone = np.stack([embedder.embed_sync([t])[0] for t in TEXTS])
    assert np.array_equal(embedder.embed_sync(TEXTS), alone)
    small = HashEmbedder()
    small._CACHE_WORDS = 5  # every batch overflows it
    small._TEXTS_PER_PASS = 3  # a batch of 8 texts takes three passes
    assert np.array_equal(small.embed_sync(TEXTS), alone)
    assert np.array_equal(small.embed_sync(TEXTS[::-1]), alone[::-1])
