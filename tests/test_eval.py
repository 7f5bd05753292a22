"""The evaluation harness: metrics against ranx, BEIR loading, isolation, reports, tuning guard, compare."""
from __future__ import annotations

import gzip
import json
import os
import random
from pathlib import Path

import asyncpg
import pytest

from sql.errors import InvalidInput
from app.services import Services
from eval.beir import load_beir
from eval.compare import compare, randomisation_test
from eval.metrics import mean, per_query
from eval.report import write_report
from eval.retrieval import RetrievalEvaluation, ablation_configs, fuse
from eval.tuning import refuse_test_split
from ingest.loaders import LoadedDocument
from ingest.pipeline import IngestOptions


RANX = {"ndcg@10": 0.04538988227351446, "recall@100": 0.5145833333333333, "mrr@10": 0.03839285714285714,
        "map@100": 0.05548204081601538}
"""ranx 0.3.21's figures for the run below (ranx.evaluate over ranx.Qrels(qrels) and ranx.Run(full_run)): pinned,
since importing ranx JIT-compiles numba code for over two minutes; `RANX_CHECK=1` recomputes them."""


def test_metrics_match_ranx_on_the_same_run() -> None:
    rng = random.Random(3)
    qrels = {f"q{i}": {f"d{rng.randrange(60)}": rng.choice([1, 1, 2]) for _ in range(rng.randrange(1, 5))}
             for i in range(40)}
    run = {q: {f"d{j}": rng.random() for j in rng.sample(range(60), 30)} for q in qrels}  # no ties: libraries break them differently
    run["q0"] = {}  # a judged query with no results scores zero
    del run["q1"]
    ours = mean(per_query(run, qrels))
    theirs = RANX
    if os.environ.get("RANX_CHECK"):
        import ranx

        full_run = {q: run.get(q) or {"none": 0.0} for q in qrels}
        theirs = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(full_run), list(RANX))
    for metric, value in theirs.items():
        assert ours[metric] == pytest.approx(value, abs=1e-9), metric


def test_queries_without_judgments_are_skipped() -> None:
    qrels = {"a": {"x": 1}}
    run = {"a": {"x": 1.0}, "unjudged": {"y": 1.0}}
    assert per_query(run, qrels) == {"a": {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0, "map@100": 1.0}}


def make_beir(folder: Path, gz: bool = True) -> Path:
    (folder / "qrels").mkdir(parents=True)
    docs = [{"_id": "10", "title": "Zebras", "text": "Zebras have black and white stripes."},
            {"_id": "20", "title": "Apples", "text": "Apples grow on trees in orchards."},
            {"_id": "30", "title": "Kiwis", "text": "The kiwi is a flightless bird of New Zealand."}]
    data = "\n".join(json.dumps(d) for d in docs).encode()
    if gz:
        (folder / "corpus.jsonl.gz").write_bytes(gzip.compress(data))
    else:
        (folder / "corpus.jsonl").write_bytes(data)
    queries = [{"_id": "1", "text": "striped zebra"}, {"_id": "2", "text": "flightless bird"}, {"_id": "3", "text": "unjudged"}]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\t10\t1\n2\t30\t1\n")
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n1\t10\t1\n")
    return folder


def test_beir_loader_edge_cases(tmp_path: Path) -> None:
    gz = load_beir(make_beir(tmp_path / "gz"), "test")
    plain = load_beir(make_beir(tmp_path / "plain", gz=False), "test")
    assert gz.qrels == plain.qrels == {"1": {"10": 1}, "2": {"30": 1}}
    assert [d.external_id for d in gz.corpus()] == ["10", "20", "30"]
    assert all(isinstance(k, str) for k in gz.queries)
    with pytest.raises(InvalidInput, match="no split 'dev'.*train"):
        load_beir(tmp_path / "gz", "dev")
    with pytest.raises(InvalidInput, match="not a folder"):
        load_beir(tmp_path / "missing", "test")


def test_tuning_refuses_the_test_split() -> None:
    with pytest.raises(InvalidInput, match="refused"):
        refuse_test_split("test")
    refuse_test_split("train")


def test_python_fusion_mirrors_rrf() -> None:
    lists = {"vector": [(1, "a", 0.9), (2, "b", 0.5)], "lexical": [(2, "b", 7.0), (3, "a", 3.0)]}
    fused = fuse(lists, {"vector": 1.0, "lexical": 1.0}, "rrf", 60)
    assert fused == {"b": pytest.approx(1 / 62 + 1 / 61), "a": pytest.approx(1 / 61)}
    weighted = fuse(lists, {"vector": 1.0, "lexical": 2.0}, "weighted", 60)
    assert weighted == {"b": pytest.approx(0.0 + 2.0), "a": pytest.approx(1.0)}


async def test_evaluation_runs_in_its_own_namespace_and_writes_the_report(services: Services, tmp_path: Path, owner: asyncpg.Pool) -> None:
    await services.pipeline.ingest([LoadedDocument("user-doc", "Zebras", "my own zebra notes")], IngestOptions(tenant_id="default"))
    dataset = load_beir(make_beir(tmp_path / "ds"), "test")
    evaluation = RetrievalEvaluation(services, dataset, progress=False)
    first = await evaluation.prepare()
    assert first["inserted"] == 3
    again = await RetrievalEvaluation(services, dataset, progress=False).prepare()
    assert (again["inserted"], again["unchanged"]) == (0, 3), "an unchanged corpus is reused"
    results = await evaluation.ablation(ablation_configs(["lexical", "hybrid"]), services.retriever.params)
    assert results["lexical"]["metrics"]["ndcg@10"] == 1.0
    assert "user-doc" not in {d for run in results["lexical"]["run"].values() for d in run}
    assert set(results["lexical"]["per_query"]) == {"1", "2"}
    folder = tmp_path / "run"
    folder.mkdir()
    meta = {"dataset": "ds", "split": "test", "command": "x", "queries": 2, "embedding_model": "hash",
            "namespace": evaluation.namespace, "seconds": 1.0}
    write_report(folder, meta, results, dataset.qrels)
    report = (folder / "report.md").read_text()
    assert "| lexical | 1.0000 |" in report
    assert (folder / "chart.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((folder / "results.json").read_text())
    assert saved["results"]["lexical"]["metrics"]["ndcg@10"] == 1.0
    assert compare(folder, folder)["lexical"]["metrics"]["ndcg@10"]["delta"] == 0.0
    user = await owner.fetchval("SELECT count(*) FROM rag.documents WHERE tenant_id = 'default'")
    assert user == 1


def test_randomisation_test_detects_a_real_difference() -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    a = rng.random(200)
    assert randomisation_test(a, a + 0.1) < 0.01
    assert randomisation_test(a, a + rng.normal(0, 0.01, 200)) > 0.05
