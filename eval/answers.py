"""Answer evaluation on SQuAD v1.1: a knowledge base of every paragraph, each question asked through
the same Assistant.ask as POST /v1/ask; exact match and F1 with the official normalisation."""
from __future__ import annotations

import gzip
import hashlib
import json
import re
import string
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from app.assistant.service import Assistant
from sql.errors import InvalidInput
from app.services import Services
from ingest.loaders import LoadedDocument, parse_text
from ingest.pipeline import IngestOptions


SPAN_TRAINING_ARTICLES = 12
"""The span scorer trains on the first 12 articles of the file; the others are held out for reporting."""


def normalize_answer(s: str) -> str:
    """The official SQuAD v1.1 normalisation: lower case, no punctuation, no articles, single spaces."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1(prediction: str, truth: str) -> float:
    pred, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = Counter(pred) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def contains(text: str, truths: list[str]) -> bool:
    norm = f" {normalize_answer(text)} "
    return any(f" {normalize_answer(t)} " in norm for t in truths if normalize_answer(t))


@dataclass
class Squad:
    path: Path
    paragraphs: list[LoadedDocument]
    questions: list[dict[str, Any]]
    articles: int = 0

    def fingerprint(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def load_squad(path: Path) -> Squad:
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json*"))
        if not files:
            raise InvalidInput(f"{path} holds no SQuAD .json or .json.gz file")
        path = files[0]
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    data = json.loads(raw)
    paragraphs, questions = [], []
    for index, article in enumerate(data["data"]):
        for i, paragraph in enumerate(article["paragraphs"]):
            external_id = f"{article['title']}#{i}"
            paragraphs.append(LoadedDocument(external_id, article["title"].replace("_", " "), paragraph["context"]))
            for qa in paragraph["qas"]:
                questions.append({"id": qa["id"], "question": qa["question"], "paragraph": external_id,
                                  "answers": [a["text"] for a in qa["answers"]], "article": index})
    return Squad(path, paragraphs, questions, len(data["data"]))


def hard_wrapped(paragraphs: list[LoadedDocument], width: int) -> list[LoadedDocument]:
    """The paragraphs as a writer's Markdown files would hold them: hard-wrapped at `width` columns, read back
    through the Markdown loader (which joins the soft line breaks again)."""
    import textwrap

    return [parse_text(f"# {p.title}\n\n" + textwrap.fill(p.text, width), "markdown", p.title, p.external_id)
            for p in paragraphs]


async def ingest_squad(services: Services, squad: Squad, *, progress: bool = True, wrap: int | None = None) -> str:
    """Every paragraph into the file's own namespace (reused while unchanged), embedded; the namespace.
    wrap: ingest the paragraphs as Markdown hard-wrapped at that many columns (a namespace of its own)."""
    namespace = f"eval:squad:{squad.fingerprint()[:12]}" + (f":md{wrap}" if wrap else "")
    paragraphs = hard_wrapped(squad.paragraphs, wrap) if wrap else squad.paragraphs
    await services.pipeline.ingest(paragraphs, IngestOptions(tenant_id=namespace, source="squad"))
    await services.embed_pending(namespace, desc="embed paragraphs", progress=progress)
    return namespace


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    n = len(rows)
    return {
        "exact_match": sum(r["em"] for r in rows) / n, "f1": sum(r["f1"] for r in rows) / n,
        "answer_contains_gold": sum(r["answer_contains"] for r in rows) / n,
        "short_answer_contains_gold": sum(r["short_contains"] for r in rows) / n,
        "first_cited_chunk_contains_gold": sum(r["cited_contains"] for r in rows) / n,
        "top_retrieved_chunk_contains_gold": sum(r["top_hit_contains"] for r in rows) / n,
        "answered": sum(r["answered"] for r in rows) / n, "declined": 1 - sum(r["answered"] for r in rows) / n,
    }


async def evaluate_answers(services: Services, assistant: Assistant, squad: Squad, *, limit: int | None = None,
                           k: int = 5, progress: bool = True, held_out_from: int = SPAN_TRAINING_ARTICLES,
                           wrap: int | None = None) -> dict[str, Any]:
    """Every question asked through Assistant.ask; the figures over all of them and over the articles
    the span scorer was not trained on (from `held_out_from`, counted from 0)."""
    namespace = await ingest_squad(services, squad, progress=progress, wrap=wrap)
    questions = squad.questions[:limit] if limit else squad.questions
    rows = []
    for item in tqdm(questions, desc="questions", unit="q", disable=not progress):
        started = time.perf_counter()
        answer = await assistant.ask(item["question"], tenant_id=namespace, k=k)
        latency = (time.perf_counter() - started) * 1000
        short = answer.short_answer or answer.answer
        first_cited = answer.citations[0].chunk_id if answer.citations else None
        cited_text = next((h.content for h in answer.hits if h.chunk_id == first_cited), "")
        rows.append({
            "id": item["id"], "article": item["article"], "answered": answer.grounded, "short": short,
            "answer": answer.answer,
            "em": max(exact_match(short, t) for t in item["answers"]) if answer.grounded else 0.0,
            "f1": max(f1(short, t) for t in item["answers"]) if answer.grounded else 0.0,
            "answer_contains": answer.grounded and contains(answer.answer, item["answers"]),
            "short_contains": answer.grounded and contains(short, item["answers"]),
            "cited_contains": bool(cited_text) and contains(cited_text, item["answers"]),
            "top_hit_contains": bool(answer.hits) and contains(answer.hits[0].content, item["answers"]),
            "latency_ms": latency,
        })
    latencies = [r["latency_ms"] for r in rows]
    held_out = [r for r in rows if r["article"] >= held_out_from]
    return {
        "questions": len(rows), "paragraphs": len(squad.paragraphs), "model": assistant.model,
        "namespace": namespace, **summary(rows),
        "held_out": {"articles": f"{held_out_from + 1}-{squad.articles}", "questions": len(held_out),
                     **(summary(held_out) if held_out else {})},
        "latency_ms": {"p50": float(np.percentile(latencies, 50)), "p95": float(np.percentile(latencies, 95)),
                       "mean": float(np.mean(latencies))},
        "rows": rows,
    }
