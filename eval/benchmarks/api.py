"""The API's search throughput: `POST /v1/search` (hybrid, k=10, with snippets) through HTTP under wrk at 32
connections, beside `/livez` (the HTTP floor) and the same searches called in-process on the retriever at the
same concurrency (the ceiling without HTTP), all in one run on the SciFact corpus with the hash embedder; with
--against REV, the same for an earlier revision of the code in turns with the current one, and their ratios."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from app.settings import Settings
from eval.benchmarks.api_host import PREFIX as HOST_PREFIX
from eval.benchmarks.webhooks import DONE_LUA, free_port, run_wrk
from sql.db import Database

ROOT = Path(__file__).resolve().parents[2]
"""The checkout this code runs from."""

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


@dataclass
class Tree:
    """One revision of the code under test: its serve processes and the child that hosts its database and runs its
    in-process searches (api_host.py)."""

    label: str
    root: Path
    log: Path
    host: subprocess.Popen[str] | None = None
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    bodies: Path | None = None
    """Its queries as search request bodies (the ones its in-process searches run), for wrk."""
    token: str = ""
    chunks: int = 0
    queries: int = 0
    clock: CpuClock | None = None
    api_rounds: list[dict[str, Any]] = field(default_factory=list)
    local_rounds: list[dict[str, Any]] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of its processes: its code first on the import path."""
        return {**os.environ, "PYTHONPATH": str(self.root), **extra}

    def ask(self, command: str) -> dict[str, Any]:
        """A command to its host, and the host's answer."""
        assert self.host is not None and self.host.stdin is not None
        self.host.stdin.write(command + "\n")
        self.host.stdin.flush()
        return self.hear()

    def hear(self) -> dict[str, Any]:
        """The host's next message."""
        assert self.host is not None and self.host.stdout is not None
        for line in self.host.stdout:
            if line.startswith(HOST_PREFIX):
                return json.loads(line[len(HOST_PREFIX):])
        raise RuntimeError(f"the {self.label} code's benchmark host stopped: {self.log.read_text()[-2000:]}")


async def bench_api(settings: Settings, paths: list[Path], queries_path: Path, chunks: int = 10_000,
                    seconds: int = 20, connections: int = 32, replicas: int = 1, rounds: int = 4,
                    against: str | None = None) -> dict[str, Any]:
    """replicas > 1: as many `serve` processes, each loaded with its share of the connections at once (one wrk
    each), their rates summed. The HTTP and the in-process searches take turns, `rounds` of seconds/rounds each,
    so that a host whose speed drifts during the run weighs on both alike; their p50/p99 are the per-round
    figures weighted by requests. against: a git revision measured the same way in the same run, in turns with
    the current code (checked out in a temporary worktree; each code loads its own database on the same server)."""
    if shutil.which("wrk") is None:
        raise SystemExit("bench api needs wrk, the HTTP load generator (Debian: apt-get install wrk)")
    turn = max(1, round(seconds / rounds))
    folder = Path(tempfile.mkdtemp())
    trees = [Tree("current", ROOT, folder / "host0.log")]
    (folder / "search.lua").write_text(SEARCH_LUA)
    (folder / "livez.lua").write_text(LIVEZ_LUA)
    server = Database.start(settings.database.url, settings.database.data_dir)
    try:
        if against:
            trees.append(Tree(against, _worktree(against, folder / "baseline"), folder / "host1.log"))
        for n, tree in enumerate(trees):
            _start(tree, n, server.url, settings, paths, queries_path, chunks, folder, replicas)
        share = max(1, connections // replicas)
        for tree in trees:  # warm up
            tree.ask(f"search 3 {connections}")
            for base in tree.bases:
                _wrk_search(base, folder, tree, 3, share)
        livez = run_wrk(trees[0].bases[0], folder / "livez.lua", None, seconds, connections, "/livez")
        for _ in range(rounds):
            for tree in trees:
                assert tree.clock is not None
                before = tree.clock.read()
                tree.local_rounds.append(tree.ask(f"search {turn} {connections}"))
                tree.clock.add("in_process", before, tree.local_rounds[-1]["requests"])
                before = tree.clock.read()
                runs = await asyncio.gather(*(asyncio.to_thread(_wrk_search, base, folder, tree, turn, share)
                                              for base in tree.bases))
                tree.api_rounds.append({"per_second": sum(r["per_second"] for r in runs),
                                        "p50": max(r["p50"] for r in runs), "p99": max(r["p99"] for r in runs),
                                        "requests": sum(r["requests"] for r in runs),
                                        "errors": sum(r["errors"] for r in runs)})
                tree.clock.add("api", before, tree.api_rounds[-1]["requests"])
    finally:
        for tree in trees:
            _stop(tree)
        if against:
            _drop_worktree(folder / "baseline")
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    result = {"chunks": trees[0].chunks, "queries": trees[0].queries, "connections": connections,
              "seconds": turn * rounds, "rounds": rounds, "replicas": replicas, "livez": livez,
              **_figures(trees[0])}
    if against:
        baseline = _figures(trees[1])
        result["against"] = {"revision": against, **baseline,
                             "api_ratio": result["search_api"]["per_second"] / baseline["search_api"]["per_second"],
                             "in_process_ratio": result["search_in_process"]["per_second"]
                             / baseline["search_in_process"]["per_second"]}
    return result


def _worktree(revision: str, path: Path) -> Path:
    """The revision checked out at path (a detached git worktree of this repository)."""
    done = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), revision],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench api --against {revision}: git worktree add failed: {done.stderr.strip()}")
    return path


def _drop_worktree(path: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], capture_output=True,
                   check=False)


def _start(tree: Tree, n: int, server_url: str, settings: Settings, paths: list[Path], queries_path: Path,
           chunks: int, folder: Path, replicas: int) -> None:
    """Its host (database loaded, key made), then its serve processes on that database."""
    # -P: the script's folder (eval/benchmarks, whose ingest.py would hide the ingest package) is not on the path
    with tree.log.open("w") as log:
        tree.host = subprocess.Popen(
            [sys.executable, "-P", str(Path(__file__).with_name("api_host.py")), f"ipai_bench_api_{n}", str(chunks),
             str(queries_path.resolve()), *(str(p.resolve()) for p in paths)],
            cwd=tree.root, env=tree.env(DATABASE_URL=server_url, EMBEDDING_PROVIDER="hash"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
    loaded = tree.hear()
    tree.token, tree.chunks, tree.queries = loaded["token"], loaded["chunks"], len(loaded["queries"])
    tree.bodies = folder / f"bodies{n}.jsonl"
    tree.bodies.write_text("\n".join(json.dumps({"query": q, "k": 10, "mode": "hybrid"})
                                     for q in loaded["queries"]) + "\n")
    for _ in range(replicas):
        port = free_port()
        env = tree.env(DATABASE_URL=loaded["url"], RUN_WORKER="0", EMBEDDING_PROVIDER="hash", PORT=str(port),
                       DB_POOL_MAX=str(settings.database.pool_max), RATE_LIMIT_PER_MINUTE="0", LOG_FORMAT="json",
                       IPAI_DATA_DIR=str(folder / f"data{n}"))
        tree.servers.append(subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--no-sample"], cwd=tree.root,
                                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        tree.bases.append(f"http://127.0.0.1:{port}")
        _wait_up(tree.bases[-1])
    tree.clock = CpuClock([s.pid for s in tree.servers], tree.host.pid)


def _stop(tree: Tree) -> None:
    for server in tree.servers:
        server.terminate()
    for server in tree.servers:
        server.wait(timeout=30)
    if tree.host is not None:
        with contextlib.suppress(OSError, ValueError):
            tree.host.stdin.close()  # type: ignore[union-attr]  # the host drops its database and ends
        try:
            tree.host.wait(timeout=60)
        except subprocess.TimeoutExpired:
            tree.host.kill()


def _figures(tree: Tree) -> dict[str, Any]:
    search, in_process = _pooled(tree.api_rounds), _pooled(tree.local_rounds)
    assert tree.clock is not None
    return {"search_api": search, "search_in_process": in_process,
            "api_share_of_in_process": search["per_second"] / in_process["per_second"],
            "cpu_ms_per_search": tree.clock.per_search()}


class CpuClock:
    """CPU time per search of each party, summed over rounds: the database's processes (a local PostgreSQL only),
    the API processes, the benchmark host (its in-process searches) and the load generator (wrk, a waited-for child)."""

    def __init__(self, api_pids: list[int], bench_pid: int) -> None:
        self.api = [psutil.Process(pid) for pid in api_pids]
        self.bench = psutil.Process(bench_pid)
        self.spent: dict[str, dict[str, float]] = {}
        self.searches: dict[str, int] = {}

    def read(self) -> dict[str, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"postgres": _postgres_cpu(), "api": sum(_cpu(p) for p in self.api),
                "bench": _cpu(self.bench), "wrk": children.ru_utime + children.ru_stime}

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
        probe = subprocess.run(["wrk", "-t", "1", "-c", "1", "-d", "1s", f"{base}/livez"], capture_output=True, text=True,
                               check=False)
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


def _wrk_search(base: str, folder: Path, tree: Tree, seconds: int, connections: int) -> dict[str, Any]:
    return run_wrk(base, folder / "search.lua", tree.bodies, seconds, connections, "/v1/search", tree.token)


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
            + _cpu_line(r) + _against(r))


def _cpu_line(r: dict[str, Any]) -> str:
    return "CPU ms per search: " + "; ".join(
        f"{path.replace('_', '-')}: " + ", ".join(f"{party} {ms:.2f}" for party, ms in parties.items())
        for path, parties in r["cpu_ms_per_search"].items())


def _against(r: dict[str, Any]) -> str:
    if "against" not in r:
        return ""
    a = r["against"]
    s, p = a["search_api"], a["search_in_process"]
    return (f"\n\nThe same in turns for revision {a['revision']}:\n| path | requests/s | p50 ms | p99 ms |\n|---|---|---|---|\n"
            f"| POST /v1/search, HTTP | {s['per_second']:.0f} | {s['p50']:.1f} | {s['p99']:.1f} |\n"
            f"| the retriever in-process | {p['per_second']:.0f} | {p['p50']:.1f} | {p['p99']:.1f} |\n"
            f"API / in-process = {a['api_share_of_in_process']:.2f}; search errors {s['errors']}\n{_cpu_line(a)}\n"
            f"current / {a['revision']}: through HTTP {a['api_ratio']:.2f}x, in-process {a['in_process_ratio']:.2f}x")
