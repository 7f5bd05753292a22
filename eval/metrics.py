"""Pure metric functions (trec_eval definitions), checked in tests against ranx on the same runs.

run: query id -> {document id: score}; qrels: query id -> {document id: relevance}.
Queries without judgments are skipped (as trec_eval does); a judged query missing from the run scores 0.
Ties in the run are broken by document id, descending, like trec_eval.
"""
from __future__ import annotations

import math

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]
METRICS = ("ndcg@10", "recall@100", "mrr@10", "map@100")


def ranking(scores: dict[str, float]) -> list[str]:
    return [d for d, _ in sorted(scores.items(), key=lambda x: (-x[1], _neg(x[0])))]


def _neg(doc_id: str) -> tuple:
    # trec_eval sorts ties by document id descending: invert the comparison.
    return tuple(-ord(c) for c in doc_id) + (1,)


def ndcg(ranked: list[str], rels: dict[str, int], k: int) -> float:
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if rels.get(d, 0) > 0)
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall(ranked: list[str], rels: dict[str, int], k: int) -> float:
    relevant = {d for d, r in rels.items() if r > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr(ranked: list[str], rels: dict[str, int], k: int) -> float:
    for i, d in enumerate(ranked[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def average_precision(ranked: list[str], rels: dict[str, int], k: int) -> float:
    relevant = {d for d, r in rels.items() if r > 0}
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, d in enumerate(ranked[:k]):
        if d in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / len(relevant)


def per_query(run: Run, qrels: Qrels) -> dict[str, dict[str, float]]:
    """Every metric for every judged query."""
    out = {}
    for qid, rels in qrels.items():
        if not any(r > 0 for r in rels.values()):
            continue
        ranked = ranking(run.get(qid, {}))
        out[qid] = {
            "ndcg@10": ndcg(ranked, rels, 10), "recall@100": recall(ranked, rels, 100),
            "mrr@10": mrr(ranked, rels, 10), "map@100": average_precision(ranked, rels, 100),
        }
    return out


def mean(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    if not scores:
        return {m: 0.0 for m in METRICS}
    return {m: sum(q[m] for q in scores.values()) / len(scores) for m in METRICS}
