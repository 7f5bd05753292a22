"""`ipai-rag eval ...` sub-commands: retrieval, tune, compare, gold."""
from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.services import Services


async def eval_services() -> Services:
    """Services whose embedder goes through the on-disk cache (model + text hash)."""
    from app.services import Services, data_path, make_embedder
    from app.settings import get_settings
    from ingest.embedding import CachedEmbedder

    settings = get_settings()
    embedder = CachedEmbedder(make_embedder(settings), data_path(settings, "cache", "embeddings.sqlite"))
    return await Services.start(settings, embedder=embedder)


def with_eval_services(work: Callable[[Services], Awaitable[None]]) -> int:
    from app.services import run_with_services

    return run_with_services(work, start=eval_services)


def _command() -> str:
    return "ipai-rag " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def cmd_retrieval(args: argparse.Namespace) -> int:
    from app.services import data_path
    from eval.beir import load_beir
    from eval.report import run_folder, table, write_report
    from eval.retrieval import RetrievalEvaluation, ablation_configs

    started = time.perf_counter()
    dataset = load_beir(Path(args.dataset), args.split)
    configs = ablation_configs(args.modes.split(",") if args.modes else None)

    async def run(services: Services) -> None:
        evaluation = RetrievalEvaluation(services, dataset)
        prepared = await evaluation.prepare()
        results = await evaluation.ablation(configs, services.retriever.params)
        seconds = time.perf_counter() - started
        meta = {"dataset": dataset.name, "split": args.split, "command": _command(), "queries": len(evaluation.query_vectors),
                "embedding_model": services.embedder.name, "namespace": evaluation.namespace, "seconds": seconds,
                "prepare": prepared}
        folder = Path(args.out) if args.out else run_folder(data_path(services.settings, "eval-runs", "x").parent,
                                                              f"{dataset.name}-{args.split}")
        folder.mkdir(parents=True, exist_ok=True)
        write_report(folder, meta, results, dataset.qrels)
        print(table(results))
        print(f"\nreport: {folder / 'report.md'}  (results.json, chart.png beside it)")
        print(f"total run time: {seconds:.1f} s (prepare {prepared['seconds']} s)")

    return with_eval_services(run)


def cmd_tune(args: argparse.Namespace) -> int:
    from eval.beir import load_beir
    from eval.retrieval import RetrievalEvaluation
    from eval.tuning import refuse_test_split, tune, write_defaults

    refuse_test_split(args.split)

    started = time.perf_counter()
    dataset = load_beir(Path(args.dataset), args.split)

    async def run(services: Services) -> None:
        evaluation = RetrievalEvaluation(services, dataset)
        await evaluation.prepare()
        result = await tune(evaluation, services.retriever.params)
        print(json.dumps({"params": result["params"], "python_ndcg@10": result["python_ndcg@10"],
                          "sql_metrics": result["sql_metrics"]}, indent=2))
        if not args.dry_run:
            write_defaults(result, evaluation, _command())
            print("wrote retrieval/defaults.json")
        print(f"total run time: {time.perf_counter() - started:.1f} s")

    return with_eval_services(run)


def cmd_compare(args: argparse.Namespace) -> int:
    from eval.compare import compare, format_comparison

    print(format_comparison(compare(Path(args.run_a), Path(args.run_b))))
    return 0


def cmd_gold(args: argparse.Namespace) -> int:
    """Writers' gold sets: {query, relevant: [external ids]} per line, scored on the live knowledge base."""
    from eval.metrics import mean, per_query
    from eval.report import table

    rows = [json.loads(line) for line in Path(args.file).read_text().splitlines() if line.strip()]

    async def run(services: Services) -> None:
        qrels = {str(i): {str(d): 1 for d in row["relevant"]} for i, row in enumerate(rows)}
        results: dict[str, Any] = {}
        for mode in ("vector", "lexical", "trigram", "hybrid"):
            run_: dict[str, dict[str, float]] = {}
            latencies = []
            for i, row in enumerate(rows):
                started = time.perf_counter()
                hits = await services.retriever.search(row["query"], k=100, mode=mode, tenant_id=args.tenant,
                                                       collapse=True, snippets=False)
                latencies.append((time.perf_counter() - started) * 1000)
                run_[str(i)] = {}
                for h in hits:
                    run_[str(i)].setdefault(h.external_id, h.score)
            import numpy as np

            results[mode] = {"metrics": mean(per_query(run_, qrels)),
                             "latency_ms": {"p50": float(np.percentile(latencies, 50)),
                                            "p95": float(np.percentile(latencies, 95))}}
        print(table(results))

    return with_eval_services(run)


def cmd_bench_ingest(args: argparse.Namespace) -> int:
    from app.settings import get_settings
    from eval.benchmarks.ingest import INDEXES, bench_ingest, format_ingest

    without = set(filter(None, args.without.split(",")))
    if without - INDEXES.keys():
        raise SystemExit(f"--without: unknown index {', '.join(sorted(without - INDEXES.keys()))} "
                         f"(known: {', '.join(sorted(INDEXES))})")
    result = asyncio.run(bench_ingest(get_settings(), [Path(p) for p in args.paths], without=without))
    print(format_ingest(result))
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


def cmd_bench_search(args: argparse.Namespace) -> int:
    from app.services import data_path
    from app.settings import get_settings
    from eval.benchmarks.search import bench_search, format_search
    from ingest.embedding import CachedEmbedder, HashEmbedder, LocalEmbedder

    settings = get_settings()
    sizes = [int(x) for x in args.sizes.split(",")]
    # MiniLM through the embedding cache (the first run embeds the corpus once), or `hash` to skip that.
    embedder = (HashEmbedder(384) if args.embedder == "hash" else
                CachedEmbedder(LocalEmbedder(), data_path(settings, "cache", "embeddings.sqlite")))
    result = asyncio.run(bench_search(settings, embedder, [Path(p) for p in args.paths], Path(args.queries), sizes))
    print(format_search(result))
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


def cmd_bench_api(args: argparse.Namespace) -> int:
    from app.settings import get_settings
    from eval.benchmarks.api import bench_api, format_api

    result = asyncio.run(bench_api(get_settings(), [Path(p) for p in args.paths], Path(args.queries),
                                   chunks=args.chunks, seconds=args.seconds, connections=args.connections,
                                   replicas=args.replicas, rounds=args.rounds, against=args.against))
    print(format_api(result))
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


def cmd_bench_flood(args: argparse.Namespace) -> int:
    from app.settings import get_settings
    from eval.benchmarks.flood import bench_flood, format_flood
    from ingest.embedding import HashEmbedder

    result = asyncio.run(bench_flood(get_settings(), HashEmbedder(384), [Path(p) for p in args.paths],
                                     chunks=args.chunks, callers=args.callers))
    print(format_flood(result))
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


def cmd_answers(args: argparse.Namespace) -> int:
    if bool(args.squad) == bool(args.qa):
        raise SystemExit("eval answers: give --squad FILE, or --qa FILE with --corpus DIR")
    if args.qa:
        return _qa_answers(args)
    from app.services import data_path
    from eval.answers import evaluate_answers, load_squad
    from eval.report import run_folder

    started = time.perf_counter()
    squad = load_squad(Path(args.squad))

    async def run(services: Services) -> None:
        result = await evaluate_answers(services, services.assistant, squad, limit=args.limit, k=args.k,
                                        wrap=args.wrap)
        result["seconds"] = time.perf_counter() - started
        result["command"] = _command()
        folder = run_folder(data_path(services.settings, "eval-runs", "x").parent, "squad-answers")
        (folder / "results.json").write_text(json.dumps(result, indent=1))
        summary = {k: v for k, v in result.items() if k not in ("rows", "held_out")}
        summary.update({f"held_out.{k}": v for k, v in result["held_out"].items()})
        lines = [f"# Answer evaluation: {squad.path.name}", "", f"- command: `{summary['command']}`", "",
                 "| figure | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in summary.items()
                  if k not in ("command", "latency_ms")]
        lines.append(f"| latency p50 / p95 ms | {summary['latency_ms']['p50']:.1f} / {summary['latency_ms']['p95']:.1f} |")
        (folder / "report.md").write_text("\n".join(lines) + "\n")
        print(json.dumps(summary, indent=2))
        print(f"report: {folder / 'report.md'}")

    return with_eval_services(run)


def _qa_answers(args: argparse.Namespace) -> int:
    """Questions over a folder of real documents (the format of odoo-docs-14.0/qa/dev.jsonl)."""
    from app.services import data_path
    from eval.qa import evaluate_qa, ingest_corpus, load_qa, qa_report
    from eval.report import run_folder

    if not args.corpus:
        raise SystemExit("eval answers --qa needs --corpus DIR: the folder ingested as the knowledge base")
    started = time.perf_counter()
    qa = load_qa(Path(args.qa))
    corpus = Path(args.corpus)

    async def run(services: Services) -> None:
        namespace = await ingest_corpus(services, corpus, qa)
        result = await evaluate_qa(services, qa, namespace, k=args.k, limit=args.limit)
        result["seconds"] = time.perf_counter() - started
        result["command"] = _command()
        folder = run_folder(data_path(services.settings, "eval-runs", "x").parent, "qa-answers")
        (folder / "results.json").write_text(json.dumps(result, indent=1))
        report = qa_report(result, result["command"], qa, corpus)
        (folder / "report.md").write_text(report)
        print(report)
        print(f"report: {folder / 'report.md'}  (results.json beside it, one row per question)")

    return with_eval_services(run)


def cmd_spans(args: argparse.Namespace) -> int:
    from eval.answers import SPAN_TRAINING_ARTICLES, load_squad
    from eval.spans import train_spans

    squad = load_squad(Path(args.squad))

    async def run(services: Services) -> None:
        print(json.dumps(await train_spans(services, squad, SPAN_TRAINING_ARTICLES)))
        print("wrote app/assistant/sentence_weights.json and app/assistant/span_weights.json")

    return with_eval_services(run)


def cmd_bench_catalog(args: argparse.Namespace) -> int:
    from app.settings import get_settings
    from eval.benchmarks.catalog import bench_catalog, format_catalog

    result = asyncio.run(bench_catalog(get_settings(), args.assets))
    print(format_catalog(result))
    return 0


def cmd_bench_webhooks(args: argparse.Namespace) -> int:
    from app.settings import get_settings
    from eval.benchmarks.webhooks import bench_webhooks, format_webhooks

    print(format_webhooks(asyncio.run(bench_webhooks(get_settings(), args.events, args.concurrency))))
    return 0


def add_eval_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("eval", help="evaluate retrieval quality")
    esub = parser.add_subparsers(dest="eval_command", required=True)

    p = esub.add_parser("retrieval", help="ablation table on a BEIR dataset split")
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--modes", help="comma list of vector,lexical,trigram,hybrid (default: all)")
    p.add_argument("--out", help="run folder (default: IPAI_DATA_DIR/eval-runs/<timestamp>-<dataset>-<split>)")
    p.set_defaults(func=cmd_retrieval)

    p = esub.add_parser("tune", help="tune BM25, fusion and leg depths on a train split; writes retrieval/defaults.json")
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--dry-run", action="store_true", help="print the result without writing the defaults")
    p.set_defaults(func=cmd_tune)

    p = esub.add_parser("answers", help="answer quality through the /v1/ask code path: SQuAD (exact match, F1), "
                                        "or a question file over a folder of documents")
    p.add_argument("--squad", help="SQuAD v1.1 JSON (or .json.gz, or a folder holding one)")
    p.add_argument("--qa", help="questions in the format of odoo-docs-14.0/qa/dev.jsonl (see its README)")
    p.add_argument("--corpus", help="with --qa: the folder ingested as the knowledge base")
    p.add_argument("--wrap", type=int, metavar="COLUMNS",
                   help="with --squad: ingest the paragraphs as Markdown hard-wrapped at COLUMNS (e.g. 72)")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("-k", type=int, default=5, help="chunks retrieved per question")
    p.set_defaults(func=cmd_answers)

    p = esub.add_parser("spans", help="train the extractive answerer's sentence and span scorers on SQuAD's first 12 articles")
    p.add_argument("--squad", required=True, help="SQuAD v1.1 JSON (or .json.gz, or a folder holding one)")
    p.set_defaults(func=cmd_spans)

    p = esub.add_parser("compare", help="compare two runs with a paired randomisation test")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.set_defaults(func=cmd_compare)

    p = esub.add_parser("gold", help="score a writers' gold set (JSONL of {query, relevant}) on the live KB")
    p.add_argument("file")
    p.add_argument("--tenant", default="default")
    p.set_defaults(func=cmd_gold)

    bench = sub.add_parser("bench", help="benchmarks (figures for the README)")
    bsub = bench.add_subparsers(dest="bench_command", required=True)
    p = bsub.add_parser("ingest", help="ingestion throughput with the hash embedder vs a raw binary COPY")
    p.add_argument("paths", nargs="*", default=["../shared/datasets/odoo-docs-14.0/content",
                                                 "../shared/datasets/scifact/corpus.jsonl.gz"])
    p.add_argument("--json", action="store_true")
    p.add_argument("--without", default="", metavar="INDEXES",
                   help="diagnostic: leave out the maintenance of these indexes or the embedding (comma-separated: "
                        "lexical, vector, embedding) to see what they cost; the knowledge base is left without them")
    p.set_defaults(func=cmd_bench_ingest)

    p = bsub.add_parser("search", help="search latency per mode at growing sizes, vs the Supabase reference")
    p.add_argument("paths", nargs="*", default=["../shared/datasets/scifact/corpus.jsonl.gz",
                                                 "../shared/datasets/odoo-docs-14.0/content"])
    p.add_argument("--queries", default="../shared/datasets/scifact", help="BEIR folder whose test queries are run")
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--embedder", default="local", choices=["local", "hash"],
                   help="vectors for chunks and queries (default: local MiniLM, cached on disk)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_search)

    p = bsub.add_parser("api", help="search requests/s through HTTP (wrk) vs the retriever in-process, and /livez")
    p.add_argument("paths", nargs="*", default=["../shared/datasets/scifact/corpus.jsonl.gz"])
    p.add_argument("--queries", default="../shared/datasets/scifact", help="BEIR folder whose test queries are sent")
    p.add_argument("--chunks", type=int, default=10_000)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--replicas", type=int, default=1, help="serve processes sharing the connections (rates summed)")
    p.add_argument("--rounds", type=int, default=4, help="turns the HTTP and in-process searches take, alternating")
    p.add_argument("--against", metavar="REV", help="also measure this git revision of the code, in turns with the "
                   "current one (a baseline in the same run), and report the ratios")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_api)

    p = bsub.add_parser("flood", help="a normal search's latency while callers send queries at the length limit")
    p.add_argument("paths", nargs="*", default=["../shared/datasets/odoo-docs-14.0/content"])
    p.add_argument("--chunks", type=int, default=20_000)
    p.add_argument("--callers", type=int, default=16)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_flood)

    p = bsub.add_parser("catalog", help="fuzzy catalog lookup latency with many registered assets")
    p.add_argument("--assets", type=int, default=100_000)
    p.set_defaults(func=cmd_bench_catalog)

    p = bsub.add_parser("webhooks", help="webhook intake throughput and latency beside a trivial endpoint")
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=32)
    p.set_defaults(func=cmd_bench_webhooks)
