"""classify, summarize and memory: offline paths, the LLM paths over real HTTP, and their errors."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from app.assistant.classify import DEFAULT_LABELS, Classifier, resolve_labels
from app.assistant.llm import OpenAIChat
from app.assistant.summarize import Summarizer
from sql.db import Database
from sql.errors import UpstreamError
from ingest.embedding import HashEmbedder
from tests.conftest import CountingEmbedder, login, make_settings
from tests.openai_server import FakeOpenAI

LONG = " ".join(
    f"Invoices in Odoo are journal entries number {i}. Each invoice is posted to the sales journal and receives "
    f"a sequence number. Customers pay invoices by bank transfer or card. The weather today is mild {i}."
    for i in range(200)
)


@pytest.fixture
async def client(db_url: str, tmp_path: Path, embedder: CountingEmbedder) -> AsyncIterator[AsyncTestClient]:
    app = create_app(make_settings(db_url, tmp_path), embedder=embedder, database=Database(db_url))
    async with AsyncTestClient(app) as c:
        await login(c, db_url)
        yield c


async def test_offline_classification_of_the_default_intents() -> None:
    classifier = Classifier(HashEmbedder())
    labels = list(DEFAULT_LABELS)
    cases = {
        "I get an error and the page crashes when I post an invoice": "bug report",
        "How do I configure payment terms for a customer?": "how-to",
        "Please add support for exporting reports to Excel, that feature would be nice": "feature request",
        "I forgot my password and cannot log in to my account": "account",
        "Why was my credit card charged twice for the subscription? I want a refund": "billing",
    }
    for text, expected in cases.items():
        result = await classifier.classify(text, labels)
        assert result.label == expected, (text, result)
        assert 0 < result.confidence <= 1 and abs(sum(result.scores.values()) - 1) < 1e-3


async def test_llm_classification_is_validated_against_the_schema(fake_openai: FakeOpenAI) -> None:
    llm = OpenAIChat(openai.AsyncOpenAI(api_key="t", base_url=fake_openai.base_url, max_retries=0), "m")
    classifier = Classifier(HashEmbedder(), llm)
    fake_openai.chat_reply = json.dumps({"label": "billing", "confidence": 0.9})
    result = await classifier.classify("charged twice", list(DEFAULT_LABELS))
    assert (result.label, result.confidence, result.method) == ("billing", 0.9, "llm:m")
    sent = fake_openai.requests[-1][1]["response_format"]["json_schema"]["schema"]
    assert sent["properties"]["label"]["enum"] == [label.name for label in DEFAULT_LABELS]
    fake_openai.chat_reply = json.dumps({"label": "astrology", "confidence": 2})
    with pytest.raises(UpstreamError, match="did not match the schema"):
        await classifier.classify("charged twice", list(DEFAULT_LABELS))


async def test_extractive_summary_picks_central_sentences() -> None:
    summary = await Summarizer(HashEmbedder()).summarize(LONG, max_tokens=60)
    assert summary.method == "extractive:centrality" and summary.sections > 1
    assert len(summary.summary) < len(LONG) / 20
    assert "invoice" in summary.summary.lower() and "weather" not in summary.summary.lower()
    bullets = await Summarizer(HashEmbedder()).summarize(LONG, max_tokens=60, style="bullets")
    assert bullets.summary.startswith("- ")


async def test_llm_summary_maps_sections_then_reduces(fake_openai: FakeOpenAI) -> None:
    llm = OpenAIChat(openai.AsyncOpenAI(api_key="t", base_url=fake_openai.base_url, max_retries=0), "m")
    fake_openai.chat_reply = "Invoices are posted journal entries."
    summary = await Summarizer(HashEmbedder(), llm).summarize(LONG, max_tokens=50)
    assert summary.summary == "Invoices are posted journal entries."
    assert len(fake_openai.requests) == summary.sections + 1 and summary.sections > 1


async def test_tool_endpoints_and_errors(client: AsyncTestClient) -> None:
    r = await client.post("/v1/classify", json={"text": "the app crashes with an error"})
    assert r.status_code == 200 and r.json()["label"] == "bug report"
    r = await client.post("/v1/classify", json={"text": "refund my order", "labels": ["refunds", "shipping"]})
    assert r.json()["label"] == "refunds"
    for body in ({"text": ""}, {"text": "x", "labels": ["only-one"]}, {"text": "x", "colour": 1}):
        assert (await client.post("/v1/classify", json=body)).status_code == 422
    r = await client.post("/v1/kb/documents", json={"external_id": "long", "content": LONG})
    doc_id = r.json()["documents"][0]["id"]
    r = await client.post("/v1/summarize", json={"document_id": doc_id, "max_tokens": 40})
    assert r.status_code == 200 and r.json()["usage"]["prompt_tokens"] > 0
    assert (await client.post("/v1/summarize", json={})).status_code == 422
    assert (await client.post("/v1/summarize", json={"text": "x", "document_id": 1})).status_code == 422
    assert (await client.post("/v1/summarize", json={"document_id": 99999})).status_code == 404
    assert (await client.post("/v1/summarize", json={"text": "a b c d", "style": "poem"})).status_code == 422


async def test_memory_is_retrievable_by_its_user_only(client: AsyncTestClient) -> None:
    r = await client.post("/v1/memory", json={"user_id": "ana", "text": "Ana's preferred warehouse is Cebu North."})
    assert r.status_code == 201, r.text
    mine = (await client.post("/v1/ask", json={"question": "Which warehouse does Ana prefer?", "user_id": "ana"})).json()
    assert mine["grounded"] and "Cebu North" in mine["answer"]
    theirs = (await client.post("/v1/ask", json={"question": "Which warehouse does Ana prefer?", "user_id": "ben"})).json()
    assert not theirs["grounded"]
    anonymous = (await client.post("/v1/ask", json={"question": "Which warehouse does Ana prefer?"})).json()
    assert not anonymous["grounded"]
    chat = (await client.post("/v1/chat", json={"message": "Which warehouse does Ana prefer?", "user_id": "ana"})).json()
    assert "Cebu North" in chat["reply"]["answer"]
    assert (await client.post("/v1/memory", json={"user_id": " ", "text": "x"})).status_code == 422


def test_custom_labels_are_checked() -> None:
    assert [label.name for label in resolve_labels(["a", "b"])] == ["a", "b"]
