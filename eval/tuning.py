"""Tuning on a train split: BM25 k1/b, then fusion weights and the rank constant, then the legs' depths."""
from __future__ import annotations

import itertools
import json
from dataclasses import asdict, replace
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sql.errors import InvalidInput
from eval.compare import randomisation_test
from eval.metrics import mean, per_query
from eval.retrieval import RetrievalEvaluation, fuse
from retrieval.retriever import DEFAULTS_FILE, SearchParams

RRF_KS = (5, 10, 20, 30, 45, 60, 80, 120)
VECTOR_WEIGHTS = (0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0)
TRIGRAM_WEIGHTS = (0.0, 0.1, 0.25, 0.5)
BM25 = ((0.9, 0.4), (0.9, 0.75), (1.2, 0.6), (1.2, 0.75), (1.2, 0.9), (1.5, 0.75), (1.8, 0.75))
# How deep each leg reads, the knobs latency depends on: the vector leg's candidates (and HNSW
# ef_search with them), the postings read per query term. The shallowest setting (postings first, they
# cost the most) whose per-query nDCG@10 is not significantly below the best setting's wins: a paired
# randomisation test at DEPTH_SIGNIFICANCE.
CANDIDATES = (20, 30, 40, 60, 100)
POSTINGS_DEPTHS = (300, 400, 500, 700, 1000)
DEPTH_SIGNIFICANCE = 0.05


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
    tuned, depth_grid = await tune_depths(evaluation, tuned, progress)
    # The grid fused in Python; confirm the winner through the SQL function itself.
    run, _ = await evaluation.run(tuned, desc="confirm in SQL")
    confirmed = mean(per_query(run, qrels))
    return {"params": asdict(tuned), "bm25_grid": bm25_grid, "fusion_grid": grid, "depth_grid": depth_grid,
            "python_ndcg@10": best["ndcg@10"], "sql_metrics": confirmed}


async def tune_depths(evaluation: RetrievalEvaluation, params: SearchParams,
                      progress: bool = True) -> tuple[SearchParams, list[dict[str, Any]]]:
    """The shallowest legs that keep nDCG@10, asked for 10 results without collapsing, as search is."""
    grid, scores = [], {}
    qids = sorted(evaluation.query_vectors)
    for candidates, depth in tqdm(list(itertools.product(CANDIDATES, POSTINGS_DEPTHS)), desc="depth grid",
                                  disable=not progress):
        trial = replace(params, candidates=candidates, ef_search=candidates, postings_depth=depth)
        run, latencies = await evaluation.run(trial, k=10, collapse=False, desc=f"c={candidates} d={depth}")
        per = per_query(run, evaluation.dataset.qrels)
        scores[(candidates, depth)] = np.array([per[q]["ndcg@10"] for q in qids])
        grid.append({"candidates": candidates, "postings_depth": depth, "ndcg@10": float(scores[(candidates, depth)].mean()),
                     "latency_p50_ms": float(np.percentile(latencies, 50))})
    best = max(scores, key=lambda key: scores[key].mean())
    for g in grid:
        key = (g["candidates"], g["postings_depth"])
        g["p_value_vs_best"] = 1.0 if key == best else float(randomisation_test(scores[best], scores[key]))
    chosen = min((g for g in grid if g["p_value_vs_best"] >= DEPTH_SIGNIFICANCE),
                 key=lambda g: (g["postings_depth"], g["candidates"]))
    return replace(params, candidates=chosen["candidates"], ef_search=chosen["candidates"],
                   postings_depth=chosen["postings_depth"]), grid


def write_defaults(result: dict[str, Any], evaluation: RetrievalEvaluation, command: str,
                   path: Path = DEFAULTS_FILE) -> None:
    """The retriever's defaults, as a reviewed file in the repository."""
    data = {
        "params": result["params"],
        "tuned_on": {
            "dataset": evaluation.dataset.name, "split": evaluation.dataset.split,
            "queries": len(evaluation.query_vectors), "embedding_model": evaluation.services.embedder.name,
            "ndcg@10": round(result["sql_metrics"]["ndcg@10"], 4),
            "depths": [g for g in result["depth_grid"]
                       if (g["candidates"], g["postings_depth"]) == (result["params"]["candidates"],
                                                                     result["params"]["postings_depth"])],
            "date": datetime.now(UTC).date().isoformat(),
        },
        "command": command,
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
