"""Trains the extractive answerer's span scorer on SQuAD: for the questions of the training articles, the
sentence the answerer picks from retrieved chunks, its candidate spans and their features; a listwise
softmax (numpy) whose target spreads over the candidates by their F1 against the gold answers."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from app.assistant.extractive import SPAN_WEIGHTS, Passage, answer_type, content_words, span_features
from app.services import Services
from eval.answers import Squad, f1, ingest_squad


def fit(lists: list[tuple[np.ndarray, np.ndarray]], *, steps: int = 1500, lr: float = 0.5,
        l2: float = 1e-3) -> np.ndarray:
    """Weights maximising the expected F1 share of the softmax over each question's candidates."""
    lists = [(x, y / y.sum()) for x, y in lists if y.sum() > 0]
    if not lists:
        raise ValueError("no question has a candidate overlapping its gold answer")
    w = np.zeros(lists[0][0].shape[1])
    for _ in range(steps):
        grad = np.zeros_like(w)
        for x, target in lists:
            z = x @ w
            p = np.exp(z - z.max())
            grad += x.T @ (p / p.sum() - target)
        w -= lr * (grad / len(lists) + l2 * w)
    return w


async def span_lists(services: Services, squad: Squad, articles: int, *, k: int = 5,
                     progress: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features, F1 of each candidate) for the questions of the first `articles` articles."""
    namespace = await ingest_squad(services, squad, progress=progress)
    assistant = services.assistant
    answerer = assistant.extractive
    out = []
    questions = [q for q in squad.questions if q["article"] < articles and answer_type(q["question"]) != "explain"]
    for item in tqdm(questions, desc="training questions", unit="q", disable=not progress):
        hits = await assistant.retrieve(item["question"], tenant_id=namespace, k=k)
        chosen = answerer.sentence(item["question"], [Passage(h.content, i + 1, h.score) for i, h in enumerate(hits)])
        if chosen is None:
            continue
        p_index, start, end, _ = chosen
        text = hits[p_index].content
        q_words = set(content_words(item["question"]))
        candidates = answerer.candidates(text, start, end, q_words)
        if not candidates:
            continue
        x = span_features(answer_type(item["question"]), text, start, end, candidates, q_words)
        y = np.array([max(f1(text[a:b], g) for g in item["answers"]) for a, b, _ in candidates])
        out.append((x, y))
    return out


async def train_spans(services: Services, squad: Squad, articles: int, out: Path = SPAN_WEIGHTS,
                      progress: bool = True) -> dict[str, Any]:
    lists = await span_lists(services, squad, articles, progress=progress)
    weights = fit(lists)
    record = {"weights": [round(float(v), 6) for v in weights], "trained_on": {
        "file": squad.path.name, "articles": f"the first {articles} of {squad.articles}",
        "questions": len(lists), "fingerprint": squad.fingerprint()[:12]}}
    out.write_text(json.dumps(record, indent=1) + "\n")
    return record
