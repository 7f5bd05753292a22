"""Compare two evaluation runs: per-metric deltas, a paired randomisation test, the queries that moved."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sql.errors import InvalidInput
from eval.metrics import METRICS


def load_results(path: Path) -> dict[str, Any]:
    file = path / "results.json" if path.is_dir() else path
    if not file.exists():
        raise InvalidInput(f"{path} is not an evaluation run (no results.json)")
    return json.loads(file.read_text())


def randomisation_test(a: np.ndarray, b: np.ndarray, trials: int = 10_000, seed: int = 7) -> float:
    """Two-sided paired randomisation (sign-flip) test of mean(b - a) = 0; returns the p-value."""
    diff = b - a
    observed = abs(diff.mean())
    if not diff.any():
        return 1.0
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(trials, diff.size))
    extreme = np.count_nonzero(np.abs((signs * diff).mean(axis=1)) >= observed - 1e-12)
    return (extreme + 1) / (trials + 1)


def compare(run_a: Path, run_b: Path, top: int = 10) -> dict[str, Any]:
    a, b = load_results(run_a)["results"], load_results(run_b)["results"]
    out: dict[str, Any] = {}
    for mode in [m for m in a if m in b]:
        qa, qb = a[mode]["per_query"], b[mode]["per_query"]
        common = sorted(set(qa) & set(qb))
        if not common:
            continue
        rows = {}
        for metric in METRICS:
            va = np.array([qa[q][metric] for q in common])
            vb = np.array([qb[q][metric] for q in common])
            rows[metric] = {"a": float(va.mean()), "b": float(vb.mean()), "delta": float(vb.mean() - va.mean()),
                            "p_value": randomisation_test(va, vb)}
        moved = sorted(common, key=lambda q: abs(qb[q]["ndcg@10"] - qa[q]["ndcg@10"]), reverse=True)[:top]
        out[mode] = {"queries": len(common), "metrics": rows,
                     "moved": [{"query": q, "a": qa[q]["ndcg@10"], "b": qb[q]["ndcg@10"]} for q in moved
                               if qa[q]["ndcg@10"] != qb[q]["ndcg@10"]]}
    if not out:
        raise InvalidInput("the two runs share no mode with common queries")
    return out


def format_comparison(result: dict[str, Any]) -> str:
    lines = []
    for mode, r in result.items():
        lines.append(f"## {mode} ({r['queries']} queries)")
        lines.append("| metric | A | B | delta | p (randomisation) |")
        lines.append("|---|---|---|---|---|")
        for metric, m in r["metrics"].items():
            star = " *" if m["p_value"] < 0.05 else ""
            lines.append(f"| {metric} | {m['a']:.4f} | {m['b']:.4f} | {m['delta']:+.4f} | {m['p_value']:.4f}{star} |")
        if r["moved"]:
            lines.append("queries that moved most (nDCG@10): " + ", ".join(
                f"{x['query']} {x['a']:.2f}->{x['b']:.2f}" for x in r["moved"]))
        lines.append("")
    return "\n".join(lines)
