"""The writers' console: its page at / and its static files at /console/ (shipped in the package, no build
step, nothing from another host, a strict Content Security Policy), and the latest evaluation report it shows."""
from __future__ import annotations

from pathlib import Path

import msgspec
from litestar import Controller, Response, get
from litestar.static_files import create_static_files_router
from litestar.response.base import ASGIResponse
from litestar.types import ControllerRouterHandler

from app.services import Services, data_path
from sql.errors import NotFound

STATIC = Path(__file__).resolve().parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                "X-Frame-Options": "DENY", "Cache-Control": "no-cache"}


class ReportOut(msgspec.Struct):
    name: str
    """The run folder (timestamp and what was evaluated)."""
    markdown: str
    chart: bool
    """GET /v1/eval/latest/chart returns its chart."""


def latest_run(services: Services) -> Path | None:
    """The newest evaluation run folder with a report (run folders are named by their UTC start time)."""
    runs = data_path(services.settings, "eval-runs", "x").parent
    reports = sorted(runs.glob("*/report.md"), key=lambda p: p.parent.name)
    return reports[-1].parent if reports else None


def chart_of(run: Path) -> Path | None:
    return next(iter(sorted(run.glob("*.png"))), None)


class ConsoleController(Controller):
    tags = ["console"]

    @get("/", operation_id="console", include_in_schema=False, opt={"public": True})
    async def page(self) -> Response[bytes]:
        """The console's page."""
        return Response((STATIC / "index.html").read_bytes(), media_type="text/html",
                        headers=PAGE_HEADERS)

    @get("/v1/eval/latest", operation_id="latestEvaluation", opt={"scope": "kb:read"})
    async def latest(self, services: Services, tenant_id: str) -> ReportOut:
        """The newest evaluation report of this deployment (`ipai-rag eval ...`), as Markdown; for the operator's
        tenant (DEFAULT_TENANT) only: a run's report quotes its corpus."""
        run = self._run(services, tenant_id)
        return ReportOut(run.name, (run / "report.md").read_text(encoding="utf-8"), chart_of(run) is not None)

    @get("/v1/eval/latest/chart", operation_id="latestEvaluationChart", media_type="image/png",
         opt={"scope": "kb:read"})
    async def chart(self, services: Services, tenant_id: str) -> Response[bytes]:
        """The newest evaluation report's chart (PNG)."""
        chart = chart_of(self._run(services, tenant_id))
        if chart is None:
            raise NotFound("the latest evaluation report has no chart")
        return Response(chart.read_bytes(), media_type="image/png")

    @staticmethod
    def _run(services: Services, tenant_id: str) -> Path:
        run = latest_run(services) if tenant_id == services.settings.server.tenant_id else None
        if run is None:
            raise NotFound("there is no evaluation report yet: run `ipai-rag eval answers ...` or "
                           "`ipai-rag eval retrieval ...` on this deployment")
        return run


async def _static_headers(response: ASGIResponse) -> ASGIResponse:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


def console_routes() -> list[ControllerRouterHandler]:
    """The page and its files (public: the page asks for an API key and keeps it in the tab's session only)."""
    return [ConsoleController, create_static_files_router(
        path="/console", directories=[STATIC], opt={"public": True}, include_in_schema=False,
        after_request=_static_headers)]  # type: ignore[arg-type]
