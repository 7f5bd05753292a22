"""What an operator sees: /metrics in the Prometheus format (scoped), a request id on every response that
log lines and the request's jobs carry, JSON log lines."""
from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from app.asgi import create_app
from app.system import heap
from app.system.logs import JsonFormatter, RequestIdFilter
from sql.db import Database
from sql.queue import REQUEST_ID
from tests.conftest import CountingEmbedder, bearer, issue_key, make_settings


@pytest.fixture
async def client(db_url: str, tmp_path: Path) -> AsyncIterator[AsyncTestClient]:
    app = create_app(make_settings(db_url, tmp_path), embedder=CountingEmbedder(), database=Database(db_url),
                     run_worker=False)
    async with AsyncTestClient(app) as c:
        yield c


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_count_requests_searches_answers_and_queues(client: AsyncTestClient, db_url: str) -> None:
    admin = bearer(await issue_key(db_url))
    r = await client.post("/v1/kb/documents", headers=admin, json={"external_id": "a", "content": "Credit notes "
                          "reverse a posted invoice."})
    assert r.status_code == 201
    for _ in range(8):  # one search in eight reports its stages
        assert (await client.post("/v1/search", headers=admin, json={"query": "credit note"})).status_code == 200
    assert (await client.post("/v1/search", headers=admin, json={"query": "credit", "mode": "lexical"})).status_code == 200
    await client.post("/v1/ask", headers=admin, json={"question": "What does a zanzibar quokka eat?"})

    assert (await client.get("/metrics", headers=bearer(await issue_key(db_url, scopes=["kb:read"])))).status_code == 403
    r = await client.get("/metrics", headers=bearer(await issue_key(db_url, scopes=["metrics"])))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got = samples(r.text)
    assert got[("ipai_http_requests_total", (("method", "POST"), ("route", "/v1/search"), ("status", "200")))] >= 2
    assert got[("ipai_search_duration_seconds_count", (("mode", "hybrid"),))] >= 1
    assert got[("ipai_search_duration_seconds_count", (("mode", "lexical"),))] >= 1
    for stage in ("terms", "vector", "lexical", "fusion"):
        assert got[("ipai_search_stage_duration_seconds_count", (("stage", stage),))] >= 1, stage
    assert got[("ipai_answers_total", (("outcome", "declined"),))] >= 1
    assert got[("ipai_queue_jobs", (("queue", "embed"), ("state", "pending")))] >= 1, "no worker ran: it waits"
    assert ("ipai_db_pool_connections", (("state", "max"),)) in got
    assert ("ipai_realtime_subscribers", ()) in got


async def test_a_request_id_is_returned_logged_and_carried_into_the_jobs(client: AsyncTestClient, db_url: str,
                                                                         owner: asyncpg.Pool) -> None:
    admin = bearer(await issue_key(db_url))
    r = await client.get("/livez", headers={"x-request-id": "trace-42.a"})
    assert r.headers["x-request-id"] == "trace-42.a"
    made = (await client.get("/livez", headers={"x-request-id": "bad id\nwith newline"})).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made), "an ill-formed id is replaced, never echoed"
    r = await client.post("/v1/kb/documents", headers={**admin, "x-request-id": "upload-7"},
                          json={"external_id": "b", "content": "Stock moves are validated."})
    assert r.headers["x-request-id"] == "upload-7"
    payloads = [row["payload"] for row in await owner.fetch("SELECT payload FROM rag.jobs WHERE queue = 'embed'")]
    assert any(p.get("request_id") == "upload-7" for p in payloads)


def test_log_lines_are_json_with_the_request_id() -> None:
    record = logging.LogRecord("ipai", logging.WARNING, __file__, 1, "job %s failed", ("17",), None)
    token = REQUEST_ID.set("req-9")
    try:
        RequestIdFilter().filter(record)
    finally:
        REQUEST_ID.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "job 17 failed" and line["request_id"] == "req-9" and line["level"] == "warning"


async def test_each_request_has_an_access_line_without_its_query_string(client: AsyncTestClient,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """The access line's fields: method, path, status, milliseconds, client and the request id; never the query
    string (a signed URL's signature is a credential until it expires)."""
    signature = "ab12" * 16
    with caplog.at_level(logging.INFO, logger="ipai.access"):
        r = await client.get(f"/v1/signed/acme/docs/a%20b.pdf?expires=1900000000&signature={signature}",
                             headers={"x-request-id": "download-3"})
    assert r.status_code >= 400
    (record,) = [x for x in caplog.records if x.name == "ipai.access"]
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"].startswith(f"GET /v1/signed/acme/docs/a%20b.pdf {r.status_code} ")
    assert (line["method"], line["path"], line["status"], line["request_id"]) == (
        "GET", "/v1/signed/acme/docs/a%20b.pdf", r.status_code, "download-3")
    assert line["duration_ms"] >= 0 and line["client"]
    assert signature not in json.dumps(line) and "expires" not in json.dumps(line)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ipai.access"):
        r = await client.get("/no/such/route", headers={"x-request-id": "probe-1"})
    assert r.status_code == 404 and r.headers["x-request-id"] == "probe-1"  # no route matched: still its id and line
    (record,) = [x for x in caplog.records if x.name == "ipai.access"]
    assert (record.path, record.status, record.request_id) == ("/no/such/route", 404, "probe-1")


async def test_a_request_is_traced_with_its_id_and_its_search(db_url: str, tmp_path: Path) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    app = create_app(make_settings(db_url, tmp_path), embedder=CountingEmbedder(), database=Database(db_url),
                     run_worker=False, tracing_exporter=spans)
    async with AsyncTestClient(app) as client:
        r = await client.post("/v1/search", headers={**bearer(await issue_key(db_url)), "x-request-id": "trace-me-1"},
                              json={"query": "credit note", "mode": "lexical"})
        assert r.status_code == 200
    finished = {s.name: s for s in spans.get_finished_spans()}
    http = next(s for name, s in finished.items() if "/v1/search" in name)
    search = finished["search"]
    assert http.attributes["ipai.request_id"] == "trace-me-1"
    assert search.context.trace_id == http.context.trace_id and search.parent.span_id == http.context.span_id
    assert search.attributes["ipai.mode"] == "lexical"


def test_serve_settles_its_heap_and_cycles_are_still_collected() -> None:
    """In a process of its own (a frozen heap would outlive the test): after settle() the start-up objects are
    out of the collector's reach, young collections are rarer, and a reference cycle made later is still freed."""
    script = """
import gc, weakref
import app.asgi  # what serve imports before it settles
from app.system import heap
heap.settle()
class Node: pass
a, b = Node(), Node()
a.other, b.other = b, a
alive = weakref.ref(a)
del a, b
gc.collect()
print(gc.get_freeze_count(), gc.get_threshold()[0], alive() is None)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    frozen, young, freed = done.stdout.split()
    assert int(frozen) > 10_000 and int(young) == heap.YOUNG_COLLECTION_EVERY and freed == "True", done.stderr
