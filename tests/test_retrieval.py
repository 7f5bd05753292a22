"""The hybrid retriever on a small real corpus: each leg, fusion, BM25 exactness, filters, plans, errors."""
from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from sql.db import Database, bind_tenant
from sql.errors import InvalidInput
from app.services import Services
from ingest.loaders import LoadedDocument
from ingest.pipeline import IngestOptions
from retrieval.retriever import LONG_QUERY_SLOTS, LONG_QUERY_TOKENS, Filters, HybridRetriever, SearchParams
from ingest.tokens import count_tokens
from tests.conftest import login, make_settings

CORPUS = {
    "credit-notes": ("Credit notes", "A credit note reverses a posted customer invoice. Use Add Credit Note on the invoice."),
    "invoice-numbers": ("Invoice numbering", "Posted invoices get a sequence number such as INV/2024/0001 from the journal."),
    "moves": ("Journal entries", "Every invoice is an account.move record; its lines are account.move.line records."),
    "reconcile": ("Bank reconciliation", "Reconciliation matches bank statement lines with payments and invoices."),
    "projects": ("Projects", "Projects group tasks; timesheets record the hours spent on each task."),
    "payroll": ("Payroll", "Payslips compute salaries, deductions and employer contributions every month."),
}


async def load(services: Services, corpus: dict[str, tuple[str, str]] = CORPUS, **options: object) -> None:
    docs = [LoadedDocument(key, title, text) for key, (title, text) in corpus.items()]
    await services.pipeline.ingest(docs, IngestOptions(**{"tenant_id": "default", **options}))  # type: ignore[arg-type]
    await services.worker().drain()


async def test_each_leg_finds_the_obvious_document(services: Services) -> None:
    await load(services)
    for mode in ("vector", "lexical", "hybrid"):
        hits = await services.retriever.search("how do I reverse a customer invoice with a credit note", mode=mode, k=3, tenant_id="default")
        assert hits[0].external_id == "credit-notes", (mode, [h.external_id for h in hits])
    hits = await services.retriever.search("timesheets hours on tasks", mode="hybrid", k=6, tenant_id="default")
    assert hits[0].external_id == "projects"
    assert hits[0].legs["vector"]["rank"] == 1 and hits[0].legs["lexical"]["rank"] == 1
    assert hits[0].snippet and "<mark>" in hits[0].snippet


async def test_each_stage_of_a_sampled_search_reports_its_time(services: Services) -> None:
    await load(services)
    seen: list[dict[str, float]] = []
    retriever = HybridRetriever(services.db, services.embedder, observe_stages=seen.append, stage_sample=2)
    await retriever.search("credit note", tenant_id="default")
    assert seen == []  # the first of two is not sampled
    started = time.perf_counter()
    await retriever.search("credit note", tenant_id="default")
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert set(seen[0]) == {"terms", "vector", "lexical", "fusion"} | ({"trigram"} if retriever.params.w_trigram else set())
    assert all(ms >= 0 for ms in seen[0].values()) and sum(seen[0].values()) <= elapsed_ms
    await retriever.search("credit", tenant_id="default", mode="lexical")
    await retriever.search("credit", tenant_id="default", mode="lexical")
    assert set(seen[1]) == {"terms", "lexical", "fusion"}  # the legs that did not run are not reported


async def test_trigram_leg_handles_typos_and_identifiers(services: Services) -> None:
    await load(services)
    for query, expected in [("acount.move", "moves"), ("INV/2024/0001", "invoice-numbers"),
                            ("reconciliaton", "reconcile"), ("payslp", "payroll"), ("Reconcilation of bank", "reconcile")]:
        hits = await services.retriever.search(query, mode="trigram", k=3, tenant_id="default")
        assert hits and hits[0].external_id == expected, (query, [h.external_id for h in hits])
    lexical = await services.retriever.search("reconciliaton", mode="lexical", k=3, tenant_id="default")
    assert lexical == [], "the typo is not a lexeme: only the trigram leg can find it"
    known = await services.retriever.search("deductions salaries", mode="trigram", k=3, tenant_id="default")
    assert known == [], "words the vocabulary knows exactly are left to the lexical leg"
    titled = await services.retriever.search("Bank reconcilation", mode="trigram", k=3, tenant_id="default")
    assert titled[0].external_id == "reconcile", "title words are in the vocabulary"


async def test_bm25_matches_a_hand_computed_example(services: Services) -> None:
    corpus = {"a": ("", "zebra zebra apple"), "b": ("", "zebra mango mango mango"), "c": ("", "apple kiwi")}
    await load(services, corpus)
    hits = await services.retriever.search("zebra apple", mode="lexical", k=3, tenant_id="default")
    docs = {"a": ["zebra", "zebra", "appl"], "b": ["zebra", "mango", "mango", "mango"], "c": ["appl", "kiwi"]}
    n, avgdl, k1, b = 3, sum(map(len, docs.values())) / 3, 1.2, 0.75
    df = Counter(t for terms in docs.values() for t in set(terms))

    def bm25(terms: list[str]) -> float:
        tf = Counter(terms)
        return sum(
            math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) * tf[t] * (k1 + 1)
            / (tf[t] + k1 * (1 - b + b * len(terms) / avgdl))
            for t in ("zebra", "appl") if t in tf
        )

    expected = sorted(((bm25(t), key) for key, t in docs.items()), reverse=True)
    assert [h.external_id for h in hits] == [key for _, key in expected]
    for hit, (score, _) in zip(hits, expected):
        assert hit.legs["lexical"]["score"] == pytest.approx(score, rel=1e-9)


async def _stats_from_scratch(conn: asyncpg.Connection) -> tuple[list, list]:
    terms = await conn.fetch(
        """SELECT c.tenant_id, c.language::text, u.lexeme, count(*) AS df
             FROM rag.chunks c, unnest(rag.chunk_tsvector_v1(c.language, c.heading, c.content)) u
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""")
    corpus = await conn.fetch(
        """SELECT tenant_id, language::text, count(*) AS n,
                  sum(rag.tsvector_length(rag.chunk_tsvector_v1(language, heading, content))) AS len
             FROM rag.chunks GROUP BY 1, 2 ORDER BY 1, 2""")
    return [tuple(r) for r in terms], [tuple(r) for r in corpus]


async def _stats_kept(conn: asyncpg.Connection) -> tuple[list, list]:
    terms = await conn.fetch("SELECT tenant_id, language::text, lexeme, df FROM rag.term_stats ORDER BY 1, 2, 3")
    corpus = await conn.fetch("SELECT tenant_id, language::text, chunk_count, total_len FROM rag.corpus_stats ORDER BY 1, 2")
    return [tuple(r) for r in terms], [tuple(r) for r in corpus]


async def test_bm25_statistics_stay_exact_after_update_and_delete(services: Services, owner: asyncpg.Pool) -> None:
    await load(services)
    await load(services, {"fr": ("Factures", "Les factures clients sont numérotées")}, language="fr", tenant_id="t2")
    async with owner.acquire() as conn:
        assert await _stats_kept(conn) == await _stats_from_scratch(conn)
        edited = dict(CORPUS, moves=("Journal entries", "Entries are account.move records with lines."))
        await load(services, edited)
        assert await _stats_kept(conn) == await _stats_from_scratch(conn)
        await conn.execute("DELETE FROM rag.documents WHERE external_id IN ('payroll', 'reconcile')")
        kept = await _stats_kept(conn)
        assert kept == await _stats_from_scratch(conn)
        assert not [t for t in kept[0] if t[2] == "payslip"], "terms of deleted documents leave the vocabulary"
        assert [r[:3] for r in kept[1] if r[0] == "t2"] == [("t2", "french", 1)]
        with pytest.raises(asyncpg.CheckViolationError, match="immutable"):
            await conn.execute("UPDATE rag.chunks SET content = 'x'")


async def test_vector_leg_uses_the_hnsw_index(services: Services, owner: asyncpg.Pool) -> None:
    await load(services)
    async with owner.acquire() as conn:
        await conn.execute("LOAD 'auto_explain'")  # the plan as the service runs it: its role, RLS, a tenant
        await conn.execute("SET auto_explain.log_min_duration = 0")
        await conn.execute("SET auto_explain.log_nested_statements = on")
        await conn.execute("SET client_min_messages = log")
        await conn.execute("SET ROLE ipai_app")
        plans: list[str] = []

        def listen(_conn: object, message: object) -> None:
            plans.append(message.message)  # type: ignore[attr-defined]

        conn.add_log_listener(listen)
        async with bind_tenant(conn, "default"):
            hits = await services.retriever.search("credit note", mode="vector", k=3, conn=conn, tenant_id="default")
        conn.remove_log_listener(listen)
        await conn.execute("RESET ROLE")
    assert len(hits) == 3
    vector_plans = [p for p in plans if "chunk_embeddings" in p and "Query Text" in p and "<=>" in p]
    assert vector_plans, plans
    assert "Index Scan using chunk_embeddings_hnsw_" in vector_plans[0], vector_plans[0]


async def test_a_selective_filter_still_returns_k_results(services: Services, owner: asyncpg.Pool) -> None:
    corpus = {f"doc{i}": (f"Note {i}", f"Invoice note number {i} about payments and credit.") for i in range(300)}
    docs = [LoadedDocument(k, t, x, metadata={"team": "blue" if i % 25 == 0 else "red"})
            for i, (k, (t, x)) in enumerate(corpus.items())]
    await services.pipeline.ingest(docs, IngestOptions(tenant_id="default"))
    await services.worker().drain()
    for mode in ("vector", "lexical", "hybrid"):
        hits = await services.retriever.search("invoice payments", mode=mode, k=10,
                                               filters=Filters(metadata={"team": "blue"}), tenant_id="default")
        assert len(hits) == 10, (mode, len(hits))
        assert all(int(h.external_id[3:]) % 25 == 0 for h in hits)
    doc7 = await owner.fetchval("SELECT id FROM rag.documents WHERE external_id = 'doc7'")
    hits = await services.retriever.search("invoice", mode="hybrid", k=5, filters=Filters(document_ids=[doc7]), tenant_id="default")
    assert [h.external_id for h in hits] == ["doc7"]
    assert await services.retriever.search("invoice", k=5, filters=Filters(sources=["nowhere"]), tenant_id="default") == []


async def test_v2_keeps_the_contract_of_v1(services: Services, owner: asyncpg.Pool) -> None:
    """rag.hybrid_search runs v2 now; v1 stays. Same rows, order, ranks and scores, filters and pages included."""
    await load(services)
    docs = [LoadedDocument(f"doc{i}", f"Note {i}", f"Invoice note {i} about payments and credit, number INV/2024/{i:04d}.",
                           metadata={"team": "blue" if i % 5 == 0 else "red"}) for i in range(40)]
    await services.pipeline.ingest(docs, IngestOptions(tenant_id="default"))
    await services.worker().drain()
    doc3 = await owner.fetchval("SELECT id FROM rag.documents WHERE external_id = 'doc3'")
    weighted = dict(w_vector=0.8, w_lexical=1.0, w_trigram=0.5, p_fusion="weighted")
    cases = [
        ("invoice payments credit", {}),
        ("invoice payments credit", weighted),
        ("acount.move records", weighted),
        ("INV/2024/0007 payments", dict(weighted, w_vector=0.0)),
        ("invoice payments", dict(p_metadata={"team": "blue"}, match_count=5)),
        ("invoice payments", dict(p_sources=["api"], p_offset=3, match_count=4, p_collapse=True)),
        ("credit note invoice", dict(match_threshold=0.2, w_lexical=0.0)),
        ("payments", dict(p_document_ids=[doc3], w_trigram=1.0)),
    ]
    names = ["query_embedding", "query_text", "match_threshold", "match_count", "p_tenant_id", "p_model", "w_vector",
             "w_lexical", "w_trigram", "p_fusion", "rrf_k", "p_offset", "p_sources", "p_languages", "p_document_ids",
             "p_metadata", "p_updated_from", "p_updated_to", "p_collapse", "p_candidates", "p_postings_depth",
             "p_trigram_threshold", "p_k1", "p_b", "p_snippets", "p_ef_search"]
    legs_seen: set[str] = set()
    oracle = (Path(__file__).resolve().parent / "fixtures" / "hybrid_search_v1.sql").read_text()
    conn = await owner.acquire()
    transaction = conn.transaction()
    await transaction.start()
    await conn.execute(oracle)  # v1, dropped by migration 0019, lives as long as this transaction
    for text, overrides in cases:
        args = dict(query_embedding=await services.retriever.embed_query(text), query_text=text, match_threshold=0.0,
                    match_count=10, p_tenant_id="default", p_model=None, w_vector=1.0, w_lexical=1.0, w_trigram=0.0,
                    p_fusion="rrf", rrf_k=60.0, p_offset=0, p_sources=None, p_languages=None, p_document_ids=None,
                    p_metadata=None, p_updated_from=None, p_updated_to=None, p_collapse=False, p_candidates=100,
                    p_postings_depth=1000, p_trigram_threshold=0.3, p_k1=1.2, p_b=0.75, p_snippets=True,
                    p_ef_search=100)
        args.update(overrides)
        values = [args[n] for n in names]
        call = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        v1 = await conn.fetch(f"SELECT * FROM rag.hybrid_search_v1({call})", *values)
        v2 = await conn.fetch(f"SELECT * FROM rag.hybrid_search_v2({call})", *values)
        assert v2, (text, overrides)
        legs_seen |= {leg for r in v2 for leg in ("vector", "lexical", "trigram") if r[f"{leg}_rank"] is not None}
        assert [(r["chunk_id"], r["vector_rank"], r["lexical_rank"], r["trigram_rank"], r["snippet"]) for r in v2] == \
               [(r["chunk_id"], r["vector_rank"], r["lexical_rank"], r["trigram_rank"], r["snippet"]) for r in v1], (text, overrides)
        for a, b in zip(v1, v2):
            for key in a.keys():
                same = a[key] == pytest.approx(b[key], rel=1e-9) if isinstance(a[key], float) else a[key] == b[key]
                assert same, (text, overrides, key, a[key], b[key])
    await transaction.rollback()
    await owner.release(conn)
    assert legs_seen == {"vector", "lexical", "trigram"}


async def test_pagination_is_stable(services: Services) -> None:
    await load(services)
    full = await services.retriever.search("invoice payments tasks", k=6, mode="hybrid", tenant_id="default")
    pages = []
    for offset in range(0, 6, 2):
        pages += await services.retriever.search("invoice payments tasks", k=2, offset=offset, mode="hybrid", tenant_id="default")
    assert [h.chunk_id for h in pages] == [h.chunk_id for h in full]
    assert len({h.chunk_id for h in pages}) == len(pages)


async def test_match_threshold_filters_the_vector_leg(services: Services) -> None:
    await load(services)
    hits = await services.retriever.search("credit note invoice", mode="vector", k=6, match_threshold=0.2, tenant_id="default")
    assert hits and all(h.legs["vector"]["score"] >= 0.2 for h in hits)
    assert len(hits) < 6
    assert await services.retriever.search("credit note invoice", mode="vector", k=6, match_threshold=0.999, tenant_id="default") == []


async def test_weighted_fusion_and_tenants(services: Services) -> None:
    await load(services)
    await load(services, {"secret": ("Credit notes", "Tenant two credit note canary")}, tenant_id="t2")
    params = SearchParams(fusion="weighted", w_vector=0.5, w_lexical=1.0, w_trigram=0.2)
    hits = await services.retriever.search("credit note", k=10, params=params, tenant_id="default")
    assert hits[0].external_id == "credit-notes" and "secret" not in {h.external_id for h in hits}
    assert 0 < hits[0].score <= 1.7
    other = await services.retriever.search("credit note", k=10, tenant_id="t2")
    assert [h.external_id for h in other] == ["secret"]


async def test_retriever_rejects_bad_input(services: Services) -> None:
    await load(services)
    with pytest.raises(InvalidInput, match="empty"):
        await services.retriever.search("  ", tenant_id="default")
    with pytest.raises(InvalidInput, match="k must be"):
        await services.retriever.search("x", k=0, tenant_id="default")
    with pytest.raises(InvalidInput, match="k must be"):
        await services.retriever.search("x", k=10_000_000, tenant_id="default")
    with pytest.raises(InvalidInput, match="unknown mode"):
        await services.retriever.search("x", mode="fuzzy", tenant_id="default")


async def test_search_endpoint_and_its_errors(db_url: str, tmp_path: Path, services: Services) -> None:
    await load(services)
    app = create_app(make_settings(db_url, tmp_path), embedder=services.embedder, database=Database(db_url))
    async with AsyncTestClient(app) as client:
        await login(client, db_url)
        r = await client.post("/v1/search", json={"query": "credit note", "k": 2, "explain": True,
                                                  "filters": {"sources": ["api"]}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["hits"][0]["external_id"] == "credit-notes" and body["hits"][0]["explain"]["lexical"]["rank"] == 1
        r = await client.post("/v1/search", json={"query": "credit note", "mode": "lexical", "collapse": True})
        assert r.status_code == 200 and len({h["document_id"] for h in r.json()["hits"]}) == len(r.json()["hits"])
        for body, status, fragment in [
            ({"query": ""}, 422, "empty"), ({"query": "x", "k": 0}, 422, "k must be"),
            ({"query": "x", "k": 5000}, 422, "k must be"), ({"query": "x", "mode": "fuzzy"}, 422, "mode"),
            ({"query": "x", "filters": {"colour": "red"}}, 422, "colour"),
            ({"query": "x", "query_embedding": [0.1, 0.2]}, 422, "dimensions"),
            ({"query": "x", "weights": {"vector": -1}}, 422, "weights"),
        ]:
            r = await client.post("/v1/search", json=body)
            assert r.status_code == status, (body, r.text)
            assert fragment in r.json()["detail"], (body, r.json())


async def test_long_queries_take_turns_and_leave_the_pool_to_normal_searches(services: Services) -> None:
    """A query past LONG_QUERY_TOKENS waits for one of LONG_QUERY_SLOTS turns before it takes a connection:
    with the turns held, a flood of them holds no connection and a normal search runs meanwhile."""
    await load(services)
    retriever = services.retriever
    long_query = " ".join(["invoice credit note payment journal reconciliation timesheet"] * 200)
    assert count_tokens(long_query) > LONG_QUERY_TOKENS
    for _ in range(LONG_QUERY_SLOTS):
        await retriever.long_queries.acquire()
    flood = [asyncio.create_task(retriever.search(long_query, k=5, tenant_id="default")) for _ in range(16)]
    await asyncio.sleep(0.2)
    assert not any(task.done() for task in flood), "every long query waits for a turn"
    assert services.db.pool.get_size() - services.db.pool.get_idle_size() == 0, "and holds no connection"
    hits = await retriever.search("credit note", k=3, tenant_id="default")
    assert hits, "a normal search runs while the flood waits"
    for _ in range(LONG_QUERY_SLOTS):
        retriever.long_queries.release()
    results = await asyncio.gather(*flood)
    assert all(results), "the long queries run once turns are free, and are answered"


async def test_a_long_query_searches_its_weightiest_terms(services: Services) -> None:
    """The lexical leg reads the postings of a query's 64 weightiest (rarest) terms: of a query naming 70 rare
    words and one common one, the common word is not searched; in a short query it is."""
    corpus = {f"rare-{i}": (f"Rare {i}", f"unique{i} appears once") for i in range(70)}
    corpus |= {f"common-{i}": (f"Common {i}", f"shared word number{i}") for i in range(10)}
    await load(services, corpus)
    short = await services.retriever.search("shared unique0", mode="lexical", k=100, tenant_id="default")
    assert {h.title for h in short} >= {"Common 0", "Rare 0"}
    query = " ".join(f"unique{i}" for i in range(70)) + " shared"
    hits = await services.retriever.search(query, mode="lexical", k=100, tenant_id="default")
    titles = {h.title for h in hits}
    assert not any(t.startswith("Common") for t in titles), "the common word is past the 64 weightiest terms"
    assert len(titles) == 64
