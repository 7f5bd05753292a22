"""The API's search throughput: `POST /v1/search` (hybrid, k=10, with snippets) through HTTP under wrk at 32
connections, beside `/livez` (the HTTP floor) and the same searches called in-process on the retriever at the
same concurrency (the ceiling without HTTP), all in one run on the SciFact corpus with the hash embedder."""
from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from app.security.keys import create_key
from app.services import Services
from app.settings import Settings
from eval.beir import load_beir
from eval.benchmarks.common import scratch_database
from eval.benchmarks.search import TENANT, _fill, corpus, variants
from eval.benchmarks.webhooks import DONE_LUA, free_port, run_wrk
from ingest.embedding import HashEmbedder
from sql.db import Database

SEARCH_LUA = """
local bodies, n, counter, token = {}, 0, 0, ""
init = function(args)
  for line in io.lines(args[1]) do
    n = n + 1
    bodies[n] = line
  end
  token = args[2]
end
request = function()
  counter = counter + 1
  return wrk.format("POST", "/v1/search", {["content-type"] = "application/json",
    ["authorization"] = "Bearer " .. token}, bodies[((counter - 1) % n) + 1])
end
""" + DONE_LUA
LIVEZ_LUA = DONE_LUA


async def _in_process(services: Services, queries: list[str], seconds: float, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def runner(offset: int) -> None:
        i = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await services.retriever.search(queries[i % len(queries)], k=10, tenant_id=TENANT)
            latencies.append((time.perf_counter() - started) * 1000)
            i += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(runner(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"per_second": len(latencies) / elapsed, "p50": float(np.percentile(latencies, 50)),
            "p99": float(np.percentile(latencies, 99)), "requests": len(latencies)}


async def bench_api(settings: Settings, paths: list[Path], queries_path: Path, chunks: int = 10_000,
                    seconds: int = 20, connections: int = 32, replicas: int = 1, rounds: int = 4) -> dict[str, Any]:
    """replicas > 1: as many `serve` processes, each loaded with its share of the connections at once (one wrk
    each), their rates summed. The HTTP and the in-process searches take turns, `rounds` of seconds/rounds each,
    so that a host whose speed drifts during the run weighs on both alike; their p50/p99 are the per-round
    figures weighted by requests."""
    dataset = load_beir(queries_path, "test")
    queries = [dataset.queries[q] for q in dataset.qrels]
    embedder = HashEmbedder(384)
    turn = max(1, round(seconds / rounds))
    async with scratch_database(settings, "ipai_bench_api") as url:
        services = await Services.start(settings, embedder=embedder, database=Database(url))
        folder = Path(tempfile.mkdtemp())
        servers: list[subprocess.Popen[bytes]] = []
        try:
            have = await _fill(services, variants(corpus(paths)), chunks)
            _, token = await create_key(services.db, TENANT, ["kb:read"], "bench")
            bodies = folder / "bodies.jsonl"
            bodies.write_text("\n".join(json.dumps({"query": q, "k": 10, "mode": "hybrid"}) for q in queries) + "\n")
            (folder / "search.lua").write_text(SEARCH_LUA)
            (folder / "livez.lua").write_text(LIVEZ_LUA)
            bases = []
            for _ in range(replicas):
                port = free_port()
                env = {**os.environ, "DATABASE_URL": url, "RUN_WORKER": "0", "EMBEDDING_PROVIDER": "hash",
                       "PORT": str(port), "DB_POOL_MAX": str(settings.database.pool_max), "RATE_LIMIT_PER_MINUTE": "0",
                       "LOG_FORMAT": "json", "IPAI_DATA_DIR": str(folder / "data")}
                servers.append(subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--no-sample"], env=env,
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                bases.append(f"http://127.0.0.1:{port}")
                _wait_up(bases[-1])
            share = max(1, connections // replicas)
            await _in_process(services, queries, 3, connections)  # warm up
            for base in bases:
                _wrk_search(base, folder, bodies, token, 3, share)
            livez = run_wrk(bases[0], folder / "livez.lua", None, seconds, connections, "/livez")
            api_rounds, local_rounds = [], []
            clock = CpuClock([s.pid for s in servers])
            for _ in range(rounds):
                before = clock.read()
                local_rounds.append(await _in_process(services, queries, turn, connections))
                clock.add("in_process", before, local_rounds[-1]["requests"])
                before = clock.read()
                runs = await asyncio.gather(*(asyncio.to_thread(_wrk_search, base, folder, bodies, token, turn, share)
                                              for base in bases))
                api_rounds.append({"per_second": sum(r["per_second"] for r in runs),
                                   "p50": max(r["p50"] for r in runs), "p99": max(r["p99"] for r in runs),
                                   "requests": sum(r["requests"] for r in runs),
                                   "errors": sum(r["errors"] for r in runs)})
                clock.add("api", before, api_rounds[-1]["requests"])
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=30)
            await services.close()
    search, in_process = _pooled(api_rounds), _pooled(local_rounds)
    return {"chunks": have, "queries": len(queries), "connections": connections, "seconds": turn * rounds,
            "rounds": rounds, "replicas": replicas,
            "search_api": search, "search_in_process": in_process, "livez": livez,
            "api_share_of_in_process": search["per_second"] / in_process["per_second"],
            "cpu_ms_per_search": clock.per_search()}


class CpuClock:
    """CPU time per search of each party, summed over rounds: the database's processes (a local PostgreSQL only),
    the API processes, this process (the in-process searches) and the load generator (wrk, a waited-for child)."""

    def __init__(self, api_pids: list[int]) -> None:
        self.api = [psutil.Process(pid) for pid in api_pids]
        self.spent: dict[str, dict[str, float]] = {}
        self.searches: dict[str, int] = {}

    def read(self) -> dict[str, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"postgres": _postgres_cpu(), "api": sum(_cpu(p) for p in self.api),
                "bench": _cpu(psutil.Process()), "wrk": children.ru_utime + children.ru_stime}

    def add(self, path: str, before: dict[str, float], searches: int) -> None:
        after = self.read()
        spent = self.spent.setdefault(path, {})
        for party in after:
            spent[party] = spent.get(party, 0.0) + after[party] - before[party]
        self.searches[path] = self.searches.get(path, 0) + searches

    def per_search(self) -> dict[str, dict[str, float]]:
        """path -> party -> CPU milliseconds per search (the parties that spent 0.05 ms or more)."""
        out = {}
        for path, spent in self.spent.items():
            n = max(1, self.searches[path])
            out[path] = {party: round(s * 1000 / n, 2) for party, s in spent.items() if s * 1000 / n >= 0.05}
        return out


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def _postgres_cpu() -> float:
    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "postgres":
            total += _cpu(process)
    return total


def _wait_up(base: str) -> None:
    for _ in range(300):
        probe = subprocess.run(["wrk", "-t", "1", "-c", "1", "-d", "1s", f"{base}/livez"], capture_output=True, text=True)
        if "Requests/sec" in probe.stdout and "Non-2xx" not in probe.stdout:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the API at {base} did not come up")


def _pooled(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of equal length as one run: the mean rate, percentiles weighted by each round's requests."""
    requests = sum(r["requests"] for r in rounds)
    pooled = {"per_second": sum(r["per_second"] for r in rounds) / len(rounds), "requests": requests,
              "p50": sum(r["p50"] * r["requests"] for r in rounds) / requests,
              "p99": sum(r["p99"] * r["requests"] for r in rounds) / requests,
              "per_round": [round(r["per_second"], 1) for r in rounds]}
    if "errors" in rounds[0]:
        pooled["errors"] = sum(r["errors"] for r in rounds)
    return pooled


def _wrk_search(base: str, folder: Path, bodies: Path, token: str, seconds: int, connections: int) -> dict[str, Any]:
    return run_wrk(base, folder / "search.lua", bodies, seconds, connections, "/v1/search", token)


def format_api(r: dict[str, Any]) -> str:
    s, p, lz = r["search_api"], r["search_in_process"], r["livez"]
    return (f"{r['chunks']:,} chunks, {r['queries']} SciFact test queries, {r['connections']} connections, "
            f"{r['seconds']} s each in {r['rounds']} alternating rounds, hash embedder, {r['replicas']} API replica(s)\n"
            f"| path | requests/s | p50 ms | p99 ms |\n|---|---|---|---|\n"
            f"| POST /v1/search (hybrid, k=10, snippets), HTTP | {s['per_second']:.0f} | {s['p50']:.1f} | "
            f"{s['p99']:.1f} |\n"
            f"| the retriever in-process, same queries | {p['per_second']:.0f} | {p['p50']:.1f} | {p['p99']:.1f} |\n"
            f"| GET /livez, HTTP | {lz['per_second']:.0f} | {lz['p50']:.1f} | {lz['p99']:.1f} |\n"
            f"API / in-process = {r['api_share_of_in_process']:.2f} (target >= 0.90); search errors {s['errors']}\n"
            + "CPU ms per search: " + "; ".join(
                f"{path.replace('_', '-')}: " + ", ".join(f"{party} {ms:.2f}" for party, ms in parties.items())
                for path, parties in r["cpu_ms_per_search"].items()))
