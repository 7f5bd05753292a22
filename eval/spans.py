"""Trains the extractive answerer's two scorers on SQuAD's training articles, each a listwise softmax
(numpy). The sentence scorer: every sentence of the retrieved chunks, the target spread over those that
hold a gold answer. Then the span scorer: the candidate spans of the sentence the answerer now picks,
the target spread by their F1 against the gold answers."""
from __future__ import annotations

import json
from typing import Any

import numpy as np
from tqdm import tqdm

from app.assistant.extractive import (SENTENCE_WEIGHTS, SIMILARITY_COLUMNS, SPAN_WEIGHTS, Passage,
                                      SentenceCandidate, SentenceWeights, answer_type, content_words,
                                      sentence_candidates, sentence_features, span_features)
from app.services import Services
from eval.answers import Squad, contains, f1, ingest_squad


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


Retrieved = tuple[dict[str, Any], list[Passage], list[SentenceCandidate], np.ndarray]


async def retrieved(services: Services, squad: Squad, articles: int, *, k: int = 5,
                    progress: bool = True) -> list[Retrieved]:
    """Each question of the first `articles` articles with the passages the assistant retrieves for it
    and the embedding similarity of the question to each of their sentences."""
    namespace = await ingest_squad(services, squad, progress=progress)
    assistant = services.assistant
    if assistant.similarity is None or not assistant.similarity.tokens:
        raise ValueError("training needs the sentence similarity with token vectors (EMBEDDING_PROVIDER=local)")
    out = []
    questions = [q for q in squad.questions if q["article"] < articles]
    for item in tqdm(questions, desc="retrieving", unit="q", disable=not progress):
        hits = await assistant.retrieve(item["question"], tenant_id=namespace, k=k)
        passages = [Passage(h.content, i + 1, h.score) for i, h in enumerate(hits)]
        candidates = sentence_candidates(passages)
        similarity = await assistant.similarity(item["question"], [c.text(passages) for c in candidates])
        out.append((item, passages, candidates, similarity))
    return out


def sentence_lists(questions: list[Retrieved]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features, holds a gold answer) for every sentence of each question's passages."""
    out = []
    for item, passages, candidates, similarity in questions:
        if not candidates:
            continue
        x, _ = sentence_features(item["question"], passages, candidates, similarity)
        y = np.array([1.0 if contains(c.text(passages), item["answers"]) else 0.0 for c in candidates])
        out.append((x, y))
    return out


def span_lists(services: Services, questions: list[Retrieved]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features, F1 of each candidate) in the sentence the answerer picks, for questions asking for a span."""
    answerer = services.assistant.extractive
    out = []
    for item, passages, candidates, similarity in questions:
        if answer_type(item["question"]) == "explain":
            continue
        chosen = answerer.sentence(item["question"], passages, similarity, candidates)
        if chosen is None:
            continue
        best = candidates[chosen[0]]
        text, start, end = passages[best.passage].text, best.start, best.end
        q_words = set(content_words(item["question"]))
        candidates = answerer.candidates(text, start, end, q_words)
        if not candidates:
            continue
        x = span_features(answer_type(item["question"]), text, start, end, candidates, q_words)
        y = np.array([max(f1(text[a:b], g) for g in item["answers"]) for a, b, _ in candidates])
        out.append((x, y))
    return out


async def train_spans(services: Services, squad: Squad, articles: int, progress: bool = True) -> dict[str, Any]:
    """Both scorers, the sentence scorer first (the span scorer learns on the sentences it picks)."""
    questions = await retrieved(services, squad, articles, progress=progress)
    trained_on = {"file": squad.path.name, "articles": f"the first {articles} of {squad.articles}",
                  "fingerprint": squad.fingerprint()[:12]}
    answerer = services.assistant.extractive
    sentence_data = sentence_lists(questions)
    similar = 2 * len(SIMILARITY_COLUMNS)  # the last columns; the lexical weights are trained without them
    lexical = np.concatenate([fit([(x[:, :-similar], y) for x, y in sentence_data]), np.zeros(similar)])
    answerer.sentence_weights = SentenceWeights(fit(sentence_data), lexical, services.embedder.name)
    span_data = span_lists(services, questions)
    answerer.span_weights = fit(span_data)

    def rounded(weights: np.ndarray) -> list[float]:
        return [round(float(v), 6) for v in weights]

    SENTENCE_WEIGHTS.write_text(json.dumps({
        "weights": rounded(answerer.sentence_weights.similar), "lexical_weights": rounded(lexical),
        "trained_on": {**trained_on, "questions": len(sentence_data), "embedding_model": services.embedder.name},
    }, indent=1) + "\n")
    SPAN_WEIGHTS.write_text(json.dumps({
        "weights": rounded(answerer.span_weights), "trained_on": {**trained_on, "questions": len(span_data)},
    }, indent=1) + "\n")
    return {"sentence_questions": len(sentence_data), "span_questions": len(span_data), **trained_on}
