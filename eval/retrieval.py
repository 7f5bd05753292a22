"""Retrieval evaluation on a BEIR dataset: isolated namespace, cached embeddings, ablations, tuning."""
from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from tqdm import tqdm

from app.services import Services
from eval.beir import BeirDataset
from eval.metrics import Run, mean, per_query
from ingest.pipeline import IngestOptions
from retrieval.retriever import SearchParams
from sql.queries import q

LEGS = ("vector", "lexical", "trigram")


@dataclass(frozen=True)
class Config:
    """One ablation row: which legs, fused how."""

    name: str
    legs: tuple[str, ...]
    fusion: str

    def params(self, base: SearchParams) -> SearchParams:
        weights = {leg: getattr(base, f"w_{leg}") or 1.0 for leg in LEGS}
        return replace(
            base, fusion=self.fusion,
            w_vector=weights["vector"] if "vector" in self.legs else 0.0,
            w_lexical=weights["lexical"] if "lexical" in self.legs else 0.0,
            w_trigram=weights["trigram"] if "trigram" in self.legs else 0.0,
        )


def ablation_configs(modes: Sequence[str] | None = None) -> list[Config]:
    """Every leg alone, every pair and all three, each pair fused by RRF and by weighted scores."""
    configs = [Config(leg, (leg,), "rrf") for leg in LEGS]
    for size in (2, 3):
        for legs in itertools.combinations(LEGS, size):
            for fusion in ("rrf", "weighted"):
                configs.append(Config(f"{'+'.join(legs)} ({fusion})", legs, fusion))
    if modes:
        wanted = set(modes)
        unknown = wanted - set(LEGS) - {"hybrid"}
        if unknown:
            raise ValueError(f"unknown modes {sorted(unknown)}; use vector, lexical, trigram, hybrid")
        configs = [c for c in configs if (len(c.legs) == 1 and c.legs[0] in wanted) or
                   (len(c.legs) > 1 and "hybrid" in wanted)]
    return configs


class RetrievalEvaluation:
    """Runs a BEIR split through the real retriever, in a namespace (tenant) of its own."""

    def __init__(self, services: Services, dataset: BeirDataset, *, progress: bool = True) -> None:
        self.services = services
        self.dataset = dataset
        self.progress = progress
        self.namespace = ""
        self.query_vectors: dict[str, np.ndarray] = {}

    async def prepare(self) -> dict[str, Any]:
        """Ingest the corpus into its namespace (a no-op when unchanged) and embed what is missing."""
        started = time.perf_counter()
        self.namespace = f"eval:{self.dataset.name[:30]}:{self.dataset.corpus_fingerprint()[:12]}"
        options = IngestOptions(tenant_id=self.namespace, source=f"beir:{self.dataset.name}", language="english")
        bar = tqdm(desc="ingest corpus", unit="doc", disable=not self.progress)
        totals = {"inserted": 0, "updated": 0, "unchanged": 0, "chunks": 0}
        async for result in self.services.pipeline.ingest_batches(self.dataset.corpus(), options):
            bar.update(result.inserted + result.updated + result.unchanged)
            totals["inserted"] += result.inserted
            totals["updated"] += result.updated
            totals["unchanged"] += result.unchanged
            totals["chunks"] += result.chunks_inserted
        bar.close()
        await self.services.embed_pending(self.namespace, desc="embed corpus", progress=self.progress)
        judged = [qid for qid in self.dataset.qrels if qid in self.dataset.queries]
        texts = [self.dataset.queries[qid] for qid in judged]
        vectors = await self._embed_with_progress(texts, "embed queries")
        self.query_vectors = dict(zip(judged, vectors))
        async with self.services.owner() as conn:
            await conn.execute(q("eval_analyze"))
        totals["seconds"] = round(time.perf_counter() - started, 1)
        return totals

    async def _embed_with_progress(self, texts: list[str], desc: str, batch: int = 256) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        with tqdm(total=len(texts), desc=desc, unit="text", disable=not self.progress) as bar:
            for i in range(0, len(texts), batch):
                out.extend(await self.services.embedder.embed(texts[i:i + batch]))
                bar.update(min(batch, len(texts) - i))
        return out

    async def run(self, params: SearchParams, *, k: int = 100, collapse: bool = True,
                  desc: str = "queries") -> tuple[Run, list[float]]:
        """Every judged query through rag.hybrid_search; document-level run and latencies (ms)."""
        run: Run = {}
        latencies = []
        retriever = self.services.retriever
        async with self.services.db.tenant(self.namespace).acquire() as conn:
            for qid, vector in tqdm(self.query_vectors.items(), desc=desc, unit="q", disable=not self.progress,
                                    leave=False):
                started = time.perf_counter()
                hits = await retriever.search(
                    self.dataset.queries[qid], k=k, tenant_id=self.namespace, params=params, collapse=collapse,
                    snippets=False, query_embedding=vector if params.w_vector else None, conn=conn,
                )
                latencies.append((time.perf_counter() - started) * 1000)
                scores: dict[str, float] = {}
                for hit in hits:
                    scores.setdefault(hit.external_id, hit.score)
                run[qid] = scores
        return run, latencies

    async def ablation(self, configs: Sequence[Config], base: SearchParams) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for config in configs:
            run, latencies = await self.run(config.params(base), desc=config.name)
            scores = per_query(run, self.dataset.qrels)
            results[config.name] = {
                "legs": list(config.legs), "fusion": config.fusion, "params": asdict(config.params(base)),
                "metrics": mean(scores), "per_query": scores, "run": run,
                "latency_ms": {"p50": float(np.percentile(latencies, 50)), "p95": float(np.percentile(latencies, 95))},
            }
        return results

    async def leg_lists(self, params: SearchParams) -> dict[str, dict[str, list[tuple[int, str, float]]]]:
        """Each leg's chunk-level top list per query: [(chunk id, external id, raw score)]."""
        lists: dict[str, dict[str, list[tuple[int, str, float]]]] = {}
        for leg in LEGS:
            leg_params = replace(params, **{f"w_{x}": (1.0 if x == leg else 0.0) for x in LEGS})
            lists[leg] = {}
            async with self.services.db.tenant(self.namespace).acquire() as conn:
                for qid, vector in tqdm(self.query_vectors.items(), desc=f"{leg} leg", unit="q",
                                        disable=not self.progress, leave=False):
                    hits = await self.services.retriever.search(
                        self.dataset.queries[qid], k=params.candidates, tenant_id=self.namespace, params=leg_params,
                        snippets=False, query_embedding=vector if leg == "vector" else None, conn=conn,
                    )
                    lists[leg][qid] = [(h.chunk_id, h.external_id, float(h.legs[leg]["score"])) for h in hits]
        return lists


def fuse(
    lists: dict[str, list[tuple[int, str, float]]], weights: dict[str, float], fusion: str, rrf_k: float
) -> dict[str, float]:
    """The SQL function's fusion in Python: chunk lists -> fused scores -> best chunk per document."""
    fused: dict[int, float] = {}
    docs: dict[int, str] = {}
    for leg, items in lists.items():
        w = weights.get(leg, 0.0)
        if not w or not items:
            continue
        lo, hi = min(x[2] for x in items), max(x[2] for x in items)
        for rank, (chunk, doc, score) in enumerate(items, 1):
            docs[chunk] = doc
            value = 1.0 / (rrf_k + rank) if fusion == "rrf" else ((score - lo) / (hi - lo) if hi > lo else 1.0)
            fused[chunk] = fused.get(chunk, 0.0) + w * value
    out: dict[str, float] = {}
    for chunk, score in fused.items():
        doc = docs[chunk]
        if score > out.get(doc, float("-inf")):
            out[doc] = score
    return out
