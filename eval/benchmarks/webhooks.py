"""Webhook intake throughput and latency (signature check + durable insert) against a trivial endpoint,
both served by the same `ipai-rag serve` process in the same run; the load comes from this process."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np

from app.odoo.signatures import sign
from app.settings import Settings
from eval.benchmarks.common import scratch_database
from sql.queries import q

SECRET = "bench_secret_0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _load(client: httpx.AsyncClient, requests: list[tuple[str, str, bytes, dict[str, str]]],
                concurrency: int) -> tuple[float, list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = iter(requests)

    async def runner() -> None:
        for method, url, body, headers in queue:
            t0 = time.perf_counter()
            r = await client.request(method, url, content=body or None, headers=headers)
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, statuses


DONE_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.3f %.3f %d\\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""
# Each request posts the next pre-signed event from a file of "signature timestamp body" lines.
HOOKS_LUA = """
local requests, n, counter = {}, 0, 0
init = function(args)
  for line in io.lines(args[1]) do
    local sig, ts, body = line:match("^(%x+) (%d+) (.*)$")
    n = n + 1
    requests[n] = {sig = sig, ts = ts, body = body}
  end
end
request = function()
  counter = counter + 1
  local r = requests[((counter - 1) % n) + 1]
  return wrk.format("POST", "/v1/odoo/webhook", {["content-type"] = "application/json",
    ["x-ipai-instance"] = "bench", ["x-ipai-timestamp"] = r.ts, ["x-ipai-signature"] = r.sig}, r.body)
end
""" + DONE_LUA


def run_wrk(base: str, script: Path, data: Path | None, seconds: int, connections: int, path: str,
            *script_args: str) -> dict[str, Any]:
    """wrk from a second process: requests/s, p50/p99 latency (ms), errors. data and script_args: the script's
    arguments."""
    args = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", str(script),
            f"{base}{path}"]
    if data is not None:
        args += ["--", str(data), *script_args]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    requests, micros, p50, p99, errors = line.split()[1:]
    return {"per_second": int(requests) / (int(micros) / 1e6), "p50": float(p50), "p99": float(p99),
            "requests": int(requests), "errors": int(errors)}


async def bench_webhooks(settings: Settings, events: int = 5000, concurrency: int = 32) -> dict[str, Any]:
    async with scratch_database(settings, "ipai_bench_webhooks") as url:
        conn = await asyncpg.connect(url)
        try:
            instance = await conn.fetchval(q("bench_instance_add"))
            # A plain-text secret as earlier versions stored it: `serve` moves it into the vault at start-up.
            await conn.execute(q("bench_instance_secret"), instance, SECRET)
        finally:
            await conn.close()
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "RUN_WORKER": "0", "EMBEDDING_PROVIDER": "hash", "PORT": str(port),
               "DB_POOL_MAX": "20"}
        server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--no-sample"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30,
                                         limits=httpx.Limits(max_connections=concurrency)) as client:
                for _ in range(300):
                    try:
                        if (await client.get("/livez")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                now = int(time.time())
                hooks = []
                for i in range(events):
                    body = json.dumps({"event_type": "write", "aggregate_type": "project.task", "aggregate_id": i,
                                       "event_id": f"bench-{i}", "payload": {"id": i, "name": f"Task {i}"}}).encode()
                    hooks.append(("POST", "/v1/odoo/webhook", body, {
                        "x-ipai-instance": "bench", "x-ipai-timestamp": str(now),
                        "x-ipai-signature": sign(SECRET, now, body), "content-type": "application/json"}))
                trivial = [("GET", "/livez", b"", {})] * events
                await _load(client, trivial[:500], concurrency)  # warm up
                t_seconds, t_lat, t_status = await _load(client, trivial, concurrency)
                w_seconds, w_lat, w_status = await _load(client, hooks, concurrency)
                wrk = None
                if shutil.which("wrk"):
                    wrk = await asyncio.to_thread(_wrk_runs, base, now, concurrency)
        finally:
            server.terminate()
            server.wait(timeout=30)
        conn = await asyncpg.connect(url)
        try:
            stored = await conn.fetchval(q("bench_events_stored"))
        finally:
            await conn.close()

    def summary(seconds: float, lat: list[float], status: dict[int, int]) -> dict[str, Any]:
        return {"per_second": len(lat) / seconds, "p50": float(np.percentile(lat, 50)),
                "p99": float(np.percentile(lat, 99)), "statuses": status}

    return {"events": events, "concurrency": concurrency, "stored": stored, "wrk": wrk,
            "webhook": summary(w_seconds, w_lat, w_status), "trivial": summary(t_seconds, t_lat, t_status)}


def _wrk_runs(base: str, now: int, connections: int, seconds: int = 10) -> dict[str, Any]:
    """The same two endpoints loaded by wrk (a C client in its own process) with 60,000 distinct events."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "events.txt"
        with data.open("w") as f:
            for i in range(60_000):
                body = json.dumps({"event_type": "write", "aggregate_type": "project.task", "aggregate_id": i,
                                   "event_id": f"wrk-{i}", "payload": {"id": i, "name": f"Task {i}"}})
                f.write(f"{sign(SECRET, now, body.encode())} {now} {body}\n")
        hook_script = Path(tmp) / "hooks.lua"
        hook_script.write_text(HOOKS_LUA)
        plain = Path(tmp) / "plain.lua"
        plain.write_text(DONE_LUA)
        trivial = run_wrk(base, plain, None, seconds, connections, "/livez")
        hooks = run_wrk(base, hook_script, data, seconds, connections, "")
    return {"webhook": hooks, "trivial": trivial, "seconds": seconds, "connections": connections}


def format_webhooks(r: dict[str, Any]) -> str:
    w, t = r["webhook"], r["trivial"]
    return "\n".join([
        f"{r['events']} requests each, {r['concurrency']} concurrent connections, client in this process",
        f"webhook (signature + durable insert + queue job): {w['per_second']:.0f}/s, p50 {w['p50']:.1f} ms, "
        f"p99 {w['p99']:.1f} ms, statuses {w['statuses']}, rows stored {r['stored']}",
        f"trivial endpoint (GET /livez):                  {t['per_second']:.0f}/s, p50 {t['p50']:.1f} ms, "
        f"p99 {t['p99']:.1f} ms",
        f"webhook / trivial throughput: {w['per_second'] / t['per_second']:.2f}",
    ] + ([] if not r.get("wrk") else [
        f"wrk, {r['wrk']['connections']} connections, {r['wrk']['seconds']} s each (a C client in its own process):",
        f"  webhook: {r['wrk']['webhook']['per_second']:.0f}/s, p50 {r['wrk']['webhook']['p50']:.1f} ms, "
        f"p99 {r['wrk']['webhook']['p99']:.1f} ms, errors {r['wrk']['webhook']['errors']}",
        f"  trivial: {r['wrk']['trivial']['per_second']:.0f}/s, p50 {r['wrk']['trivial']['p50']:.1f} ms, "
        f"p99 {r['wrk']['trivial']['p99']:.1f} ms, errors {r['wrk']['trivial']['errors']}",
    ]))
