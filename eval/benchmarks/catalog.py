"""Catalog lookup latency with 100,000 registered assets: fuzzy queries with typos, end to end."""
from __future__ import annotations

import random
import time
from typing import Any

import numpy as np

from app.catalog.service import AssetSpec, Catalog
from sql.db import Database
from app.services import Services
from app.settings import Settings
from eval.benchmarks.common import scratch_database
from ingest.embedding import HashEmbedder
from sql.queries import q

ODOO_MODELS = """account.move account.move.line account.payment account.journal account.account account.tax
account.analytic.line account.bank.statement account.bank.statement.line account.reconcile.model res.partner
res.company res.users res.currency res.country sale.order sale.order.line purchase.order purchase.order.line
stock.picking stock.move stock.move.line stock.quant stock.location stock.warehouse product.product
product.template product.category project.project project.task project.milestone hr.employee hr.department
hr.leave hr.expense hr.payslip mrp.production mrp.bom crm.lead crm.team helpdesk.ticket knowledge.article
mail.message mail.activity ir.model ir.module.module ir.attachment website.page pos.order pos.session
fleet.vehicle maintenance.request quality.check""".split()
WORDS = """revenue summary churn customer vendor margin cohort daily weekly monthly sales invoice payment
inventory stock forecast pipeline funnel retention ledger balance cash flow budget variance headcount payroll
expense project task ticket lead opportunity region product category channel""".split()


def assets(n: int, rng: random.Random) -> list[AssetSpec]:
    out, seen = [], set()
    dbs = [f"odoo_{c}" for c in ("core", "ph", "sg", "my", "id", "th", "vn", "au")] + [f"tenant_{i}" for i in range(400)]
    for db in dbs:
        for model in ODOO_MODELS:
            out.append(AssetSpec(f"odoo.{db}.{model}", "odoo_model"))
    while len(out) < n:
        name = "v_" + "_".join(rng.sample(WORDS, rng.randint(2, 4))) + f"_{rng.randint(1, 999)}"
        fqdn = f"scout.{rng.choice(['gold', 'silver', 'bronze', 'mart'])}.{name}"
        if fqdn not in seen:
            seen.add(fqdn)
            out.append(AssetSpec(fqdn, "analytics_view"))
    return out[:n]


def typo(text: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1:] if rng.random() < 0.5 else text[:i] + text[i + 1] + text[i] + text[i + 2:]


async def bench_catalog(settings: Settings, n: int = 100_000, queries: int = 300) -> dict[str, Any]:
    rng = random.Random(42)
    specs = assets(n, rng)
    async with scratch_database(settings, "ipai_bench_catalog") as url:
        services = await Services.start(settings, embedder=HashEmbedder(384), database=Database(url))
        try:
            catalog = Catalog(services, "default")
            started = time.perf_counter()
            for i in range(0, len(specs), 5000):
                await catalog.register(specs[i:i + 5000], mirror=False)
            load = time.perf_counter() - started
            async with services.owner() as conn:
                await conn.execute(q("bench_catalog_analyze"))
            targets = [rng.choice(ODOO_MODELS) for _ in range(queries // 2)]
            targets += [s.fqdn.split(".", 2)[2].removeprefix("v_") for s in rng.sample(specs[-50_000:], queries // 2)]
            lookups = [typo(t.replace(".", " ").replace("_", " "), rng) for t in targets]
            for query in lookups[:20]:
                await catalog.search(query)
            latencies, hits = [], 0
            for query, target in zip(lookups, targets):
                t0 = time.perf_counter()
                items, _ = await catalog.search(query, limit=10)
                latencies.append((time.perf_counter() - t0) * 1000)
                hits += any(i.model.removeprefix("v_") == target for i in items[:10])
            return {"assets": n, "load_seconds": load, "queries": len(lookups),
                    "p50": float(np.percentile(latencies, 50)), "p95": float(np.percentile(latencies, 95)),
                    "p99": float(np.percentile(latencies, 99)), "target_in_top10": hits / len(lookups)}
        finally:
            await services.close()


def format_catalog(r: dict[str, Any]) -> str:
    return (f"{r['assets']:,} assets registered in {r['load_seconds']:.1f} s; {r['queries']} fuzzy lookups with one typo "
            f"each: p50 {r['p50']:.2f} ms, p95 {r['p95']:.2f} ms, p99 {r['p99']:.2f} ms (target p50 < 10 ms); "
            f"intended asset in the top 10: {r['target_in_top10']:.0%}")
