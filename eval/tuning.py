"""Tuning on a train split: BM25 k1/b on the lexical leg, then fusion weights and the rank constant."""
from __future__ import annotations

import itertools
import json
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from app.errors import InvalidInput
from eval.metrics import mean, per_query
from eval.retrieval import RetrievalEvaluation, fuse
from retrieval.retriever import DEFAULTS_FILE, SearchParams

RRF_KS = (5, 10, 20, 30, 45, 60, 80, 120)
VECTOR_WEIGHTS = (0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0)
TRIGRAM_WEIGHTS = (0.0, 0.1, 0.25, 0.5)
BM25 = ((0.9, 0.4), (0.9, 0.75), (1.2, 0.6), (1.2, 0.75), (1.2, 0.9), (1.5, 0.75), (1.8, 0.75))


def refuse_test_split(split: str) -> None:
    if split.lower() == "test":
        raise InvalidInput("tuning on the test split is refused: tune on train (or dev), report on test")


async def tune(evaluation: RetrievalEvaluation, base: SearchParams, progress: bool = True) -> dict[str, Any]:
    """Grid search by nDCG@10 on the evaluation's split; returns the best parameters and the grid."""
    refuse_test_split(evaluation.dataset.split)
    qrels = evaluation.dataset.qrels
    bm25_grid = []
    best_bm25, best_ndcg = (base.k1, base.b), -1.0
    for k1, b in BM25:
        run, _ = await evaluation.run(replace(base, w_vector=0, w_lexical=1, w_trigram=0, k1=k1, b=b),
                                      desc=f"bm25 k1={k1} b={b}")
        ndcg = mean(per_query(run, qrels))["ndcg@10"]
        bm25_grid.append({"k1": k1, "b": b, "ndcg@10": ndcg})
        if ndcg > best_ndcg:
            best_bm25, best_ndcg = (k1, b), ndcg
    params = replace(base, k1=best_bm25[0], b=best_bm25[1])
    lists = await evaluation.leg_lists(params)
    grid = []
    candidates = [("rrf", k, wv, wt) for k, wv, wt in itertools.product(RRF_KS, VECTOR_WEIGHTS, TRIGRAM_WEIGHTS)]
    candidates += [("weighted", 60, wv, wt) for wv, wt in itertools.product(VECTOR_WEIGHTS, TRIGRAM_WEIGHTS)]
    for fusion, rrf_k, wv, wt in tqdm(candidates, desc="fusion grid", disable=not progress):
        weights = {"vector": wv, "lexical": 1.0, "trigram": wt}
        run = {qid: fuse({leg: lists[leg][qid] for leg in lists}, weights, fusion, rrf_k) for qid in qrels
               if qid in evaluation.query_vectors}
        grid.append({"fusion": fusion, "rrf_k": rrf_k, "w_vector": wv, "w_trigram": wt,
                     "ndcg@10": mean(per_query(run, qrels))["ndcg@10"]})
    best = max(grid, key=lambda g: (round(g["ndcg@10"], 6), g["fusion"] == "rrf", -g["w_trigram"]))
    tuned = replace(params, fusion=best["fusion"], rrf_k=float(best["rrf_k"]), w_vector=best["w_vector"],
                    w_lexical=1.0, w_trigram=best["w_trigram"])
    # The grid fused in Python; confirm the winner through the SQL function itself.
    run, _ = await evaluation.run(tuned, desc="confirm in SQL")
    confirmed = mean(per_query(run, qrels))
    return {"params": asdict(tuned), "bm25_grid": bm25_grid, "fusion_grid": grid,
            "python_ndcg@10": best["ndcg@10"], "sql_metrics": confirmed}


def write_defaults(result: dict[str, Any], evaluation: RetrievalEvaluation, command: str,
                   path: Path = DEFAULTS_FILE) -> None:
    """The retriever's defaults, as a reviewed file in the repository."""
    data = {
        "params": result["params"],
        "tuned_on": {
            "dataset": evaluation.dataset.name, "split": evaluation.dataset.split,
            "queries": len(evaluation.query_vectors), "embedding_model": evaluation.services.embedder.name,
            "ndcg@10": round(result["sql_metrics"]["ndcg@10"], 4),
            "date": datetime.now(timezone.utc).date().isoformat(),
        },
        "command": command,
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
