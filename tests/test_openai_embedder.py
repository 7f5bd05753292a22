"""The openai embedding provider over real HTTP against the local OpenAI-compatible test server."""
from __future__ import annotations

import numpy as np
import openai
import pytest

from sql.errors import UpstreamError
from ingest.embedding import OpenAIEmbedder
from tests.openai_server import FakeOpenAI, fake_vector


def client(server: FakeOpenAI, retries: int = 2) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="test", base_url=server.base_url, max_retries=retries, timeout=5)


async def test_embeds_in_batches_in_input_order(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(client(fake_openai), "text-embedding-3-small", 1536, batch_size=3)
    texts = [f"text {i}" for i in range(7)]
    vectors = await embedder.embed(texts)
    assert vectors.shape == (7, 1536)
    assert len(fake_openai.requests) == 3
    np.testing.assert_allclose(vectors[5], fake_vector("text 5", 1536), atol=1e-5)
    assert "dimensions" not in fake_openai.requests[0][1]


async def test_batches_respect_the_token_budget(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(client(fake_openai), "m", 8, batch_size=100, batch_tokens=50)
    texts = ["word " * 30, "word " * 30, "short"]
    assert embedder.batches(texts) == [[0], [1, 2]]


async def test_sends_dimensions_when_configured(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(client(fake_openai), "text-embedding-3-small", 384, send_dimensions=True)
    vectors = await embedder.embed(["a"])
    assert vectors.shape == (1, 384)
    assert fake_openai.requests[0][1]["dimensions"] == 384


async def test_retries_a_429_then_succeeds(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(429)
    embedder = OpenAIEmbedder(client(fake_openai), "m", 16, send_dimensions=True)
    vectors = await embedder.embed(["retry me"])
    assert len(fake_openai.requests) == 2
    np.testing.assert_allclose(vectors[0], fake_vector("retry me", 16), atol=1e-5)


async def test_persistent_5xx_becomes_an_upstream_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(503, times=5)
    embedder = OpenAIEmbedder(client(fake_openai, retries=2), "m", 16)
    with pytest.raises(UpstreamError, match="embedding server failed"):
        await embedder.embed(["x"])
    assert len(fake_openai.requests) == 3  # the first try and two retries


async def test_wrong_dimension_from_the_server_is_reported(fake_openai: FakeOpenAI) -> None:
    embedder = OpenAIEmbedder(client(fake_openai), "m", 1000)  # server returns its default 1536
    with pytest.raises(UpstreamError, match="returned 1536 dimensions, expected 1000"):
        await embedder.embed(["x"])
