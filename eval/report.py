"""Run folders: report.md, results.json and chart.png, timestamped under IPAI_DATA_DIR/eval-runs."""
from __future__ import annotations

import json
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from eval.metrics import METRICS, ranking


def run_folder(base: Path, label: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = base / f"{stamp}-{label}"
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def table(results: dict[str, Any]) -> str:
    lines = ["| mode | " + " | ".join(METRICS) + " | p50 ms | p95 ms |",
             "|---|" + "---|" * (len(METRICS) + 2)]
    for name, r in results.items():
        m = r["metrics"]
        lines.append(f"| {name} | " + " | ".join(f"{m[x]:.4f}" for x in METRICS)
                     + f" | {r['latency_ms']['p50']:.1f} | {r['latency_ms']['p95']:.1f} |")
    return "\n".join(lines)


def recall_curve(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]], ks: range) -> list[float]:
    judged = [q for q, rels in qrels.items() if any(r > 0 for r in rels.values())]
    ranked = {q: ranking(run.get(q, {})) for q in judged}
    out = []
    for k in ks:
        total = 0.0
        for q in judged:
            relevant = {d for d, r in qrels[q].items() if r > 0}
            total += len(relevant & set(ranked[q][:k])) / len(relevant)
        out.append(total / len(judged) if judged else 0.0)
    return out


def chart(results: dict[str, Any], qrels: dict[str, dict[str, int]], path: Path) -> bool:
    """Draw the chart; False (no chart) where matplotlib is not installed (`pip install 'ipai-rag[eval]'`)."""
    try:
        import matplotlib
    except ImportError:
        return False

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    names = list(results)
    values = [results[n]["metrics"]["ndcg@10"] for n in names]
    bars = left.barh(names[::-1], values[::-1], color="#4C72B0")
    left.bar_label(bars, fmt="%.3f", padding=3, fontsize=8)
    left.set_xlabel("nDCG@10")
    left.set_xlim(0, max(values + [0.01]) * 1.15)
    left.set_title("nDCG@10 by mode")
    ks = range(1, 101)
    for name in names:
        if len(results[name]["legs"]) == 1 or name == max(names, key=lambda n: results[n]["metrics"]["ndcg@10"]):
            right.plot(list(ks), recall_curve(results[name]["run"], qrels, ks), label=name)
    right.set_xlabel("k")
    right.set_ylabel("recall@k")
    right.set_title("Recall curves")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(folder: Path, meta: dict[str, Any], results: dict[str, Any], qrels: dict[str, dict[str, int]]) -> None:
    (folder / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    drawn = chart(results, qrels, folder / "chart.png")
    text = [f"# Retrieval evaluation: {meta['dataset']} ({meta['split']})", "",
            f"- command: `{meta['command']}`",
            f"- embedding model: {meta['embedding_model']}; queries judged: {meta['queries']}",
            f"- namespace: `{meta['namespace']}`; total time: {meta['seconds']:.1f} s", "",
            table(results), "", "![nDCG@10 and recall](chart.png)" if drawn else
            "(no chart: matplotlib is not installed; pip install 'ipai-rag[eval]')", ""]
    (folder / "report.md").write_text("\n".join(text))
