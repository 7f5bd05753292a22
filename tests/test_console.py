"""The console in a real headless browser (Debian's chromium driven by Playwright) against a live server with its
worker: sign in by keyboard, upload two files and see both reach ready, a broken PDF dropped on the page reach
failed with its reason, search with explain, ask with a streamed cited answer and open the citation, give
feedback and find it on the unanswered page, chat, read the evaluation report, delete a document. The first load
stays under 200 KB and asks nothing of another host; screenshots of each page go to test-artifacts/console/."""
from __future__ import annotations

import base64
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.asgi import create_app
from sql.db import Database
from tests.conftest import CountingEmbedder, bearer, issue_key, make_settings
from tests.live_server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-artifacts" / "console"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
REFUNDS = b"# Refund policy\n\nRefunds are issued within 14 days of the request.\n\n## Partial refunds\n\n" \
          b"A partial refund is booked as a credit note on the invoice.\n"
PAYROLL = b"# Payroll calendar\n\nSalaries are paid on the 25th of every month.\n"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)")


@pytest.fixture
async def server(db_url: str, tmp_path: Path) -> AsyncIterator[LiveServer]:
    run = tmp_path / "eval-runs" / "20261207T000000Z-qa-answers"  # an evaluation report for the console to show
    run.mkdir(parents=True)
    (run / "report.md").write_text("# Answers on the dev set\n\n| metric | value |\n|---|---|\n| contains gold | 0.54 |\n")
    (run / "chart.png").write_bytes(PNG)
    app = create_app(make_settings(db_url, tmp_path), embedder=CountingEmbedder(), database=Database(db_url),
                     run_worker=True)
    with LiveServer(app) as live:
        live.token = await issue_key(db_url)
        yield live


async def test_the_console_end_to_end(server: LiveServer) -> None:
    from playwright.async_api import async_playwright, expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        requests: list[str] = []
        problems: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        expect.set_options(timeout=20_000)

        # First load: small, and nothing from another host.
        await page.goto(server.url + "/")
        await expect(page.locator("#signin-title")).to_be_visible()
        transferred = await page.evaluate(
            "() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
            ".reduce((sum, e) => sum + (e.transferSize || e.encodedBodySize || 0), 0)")
        assert 0 < transferred < 200_000, transferred
        await page.screenshot(path=SHOTS / "sign-in.png")

        # Sign in with the keyboard only.
        await page.keyboard.press("Tab")  # the skip link
        await page.focus("#api-key")
        await page.keyboard.type(server.token)
        await page.keyboard.press("Enter")
        await expect(page.locator("#who")).to_contain_text("tenant default")
        await expect(page.locator("#who")).to_contain_text("admin")

        # Upload two files (the file picker) and a broken PDF (dropped on the page).
        await page.click("#nav button[data-view=upload]")
        await page.set_input_files("#upload-input", [
            {"name": "refunds.md", "mimeType": "text/markdown", "buffer": REFUNDS},
            {"name": "payroll.md", "mimeType": "text/markdown", "buffer": PAYROLL}])
        drop = await page.evaluate_handle(
            "() => { const dt = new DataTransfer(); dt.items.add(new File(['%PDF-1.7 torn page'], 'broken.pdf', "
            "{type: 'application/pdf'})); return dt; }")
        await page.dispatch_event("#dropzone", "drop", {"dataTransfer": drop})
        for name in ("refunds.md", "payroll.md"):
            await expect(page.locator(f'#uploads li[data-file="{name}"] [data-status=ready]')).to_be_visible()
        failed = page.locator('#uploads li[data-file="broken.pdf"] [data-status=failed]')
        await expect(failed).to_be_visible()
        await expect(failed).to_contain_text("PDF")
        await page.screenshot(path=SHOTS / "upload.png")

        # The documents page lists them with their statuses; failed ones can be retried.
        await page.click("#nav button[data-view=documents]")
        await expect(page.locator("#documents-table tbody tr")).to_have_count(3)
        await page.select_option("#documents-filter select[name=status]", "failed")
        await page.click("#documents-filter button[type=submit]")
        await expect(page.locator("#documents-table tbody tr")).to_have_count(1)
        await expect(page.locator("#documents-table tbody tr button", has_text="Retry")).to_be_visible()
        await page.screenshot(path=SHOTS / "documents.png")

        # Search with explain: each leg's rank and score per hit.
        await page.click("#nav button[data-view=search]")
        await page.fill("#search-form input[name=query]", "partial refund credit note")
        await page.click("#search-form button[type=submit]")
        first = page.locator("#search-results > li").first
        await expect(first).to_contain_text("Refund policy")
        await expect(first.locator("table.legs tr[data-leg=lexical]")).to_be_visible()
        await page.screenshot(path=SHOTS / "search.png")

        # Ask: a streamed answer with a citation that opens the passage highlighted in its document.
        await page.click("#nav button[data-view=ask]")
        await page.fill("#ask-form input[name=question]", "Within how many days are refunds issued?")
        await page.click("#ask-form button[type=submit]")
        await expect(page.locator("#ask-answer .answer")).to_contain_text("14 days")
        citation = page.locator("#ask-answer button.citation").first
        await expect(citation).to_contain_text("Refund policy")
        await page.screenshot(path=SHOTS / "ask.png")
        await citation.click()
        await expect(page.locator("#document-chunks li.cited mark")).to_contain_text("14 days")
        await expect(page.locator("#view-document")).not_to_contain_text("null")
        await page.screenshot(path=SHOTS / "document.png")

        # Feedback on the answer, then found on the unanswered page.
        await page.click("#nav button[data-view=ask]")
        await page.fill("#ask-answer .feedback textarea", "Say which request date counts")
        await page.click("#ask-answer .feedback button:text-is('Not helpful')")
        await expect(page.locator("#ask-answer .feedback")).to_contain_text("feedback saved")
        await page.click("#nav button[data-view=unanswered]")
        item = page.locator("#unanswered-list > li").first
        await expect(item).to_contain_text("Within how many days are refunds issued?")
        await expect(item).to_contain_text("Say which request date counts")
        await page.screenshot(path=SHOTS / "unanswered.png")

        # Chat, streamed, with its citations.
        await page.click("#nav button[data-view=chat]")
        await page.fill("#chat-form input[name=message]", "When are salaries paid?")
        await page.click("#chat-form button[type=submit]")
        await expect(page.locator("#chat-log .answer").first).to_contain_text("25th")
        await page.screenshot(path=SHOTS / "chat.png")

        # The latest evaluation report, as text and chart.
        await page.click("#nav button[data-view=evaluation]")
        await expect(page.locator("#evaluation-body pre")).to_contain_text("contains gold")
        await expect(page.locator("#evaluation-body img")).to_be_visible()
        await page.screenshot(path=SHOTS / "evaluation.png")

        # Delete a document (two steps, no dialog).
        await page.click("#nav button[data-view=documents]")
        await page.select_option("#documents-filter select[name=status]", "")
        await page.click("#documents-filter button[type=submit]")
        row = page.locator("#documents-table tbody tr", has_text="Payroll calendar")
        await row.locator("button", has_text="Delete").click()
        await row.locator("button", has_text="Confirm delete").click()
        await expect(page.locator("#documents-table tbody tr", has_text="Payroll calendar")).to_have_count(0)
        await browser.close()

    elsewhere = [u for u in requests if not u.startswith((server.url, f"blob:{server.url}"))]
    assert elsewhere == [], elsewhere  # the chart's blob: URL is the page's own
    assert problems == [], problems
    async with httpx.AsyncClient(base_url=server.url, headers=bearer(server.token)) as http:
        titles = [d["title"] for d in (await http.get("/v1/kb/documents")).json()["items"]]
    assert "Payroll calendar" not in titles and "Refund policy" in titles


async def test_the_evaluation_report_is_the_operators_and_me_says_who(server: LiveServer, db_url: str) -> None:
    other = bearer(await issue_key(db_url, "other", ["kb:read"]))
    asker = bearer(await issue_key(db_url, "default", ["ask"]))
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get("/v1/eval/latest", headers=bearer(server.token))
        assert r.status_code == 200 and r.json()["chart"] and "contains gold" in r.json()["markdown"]
        assert (await http.get("/v1/eval/latest/chart", headers=bearer(server.token))).content == PNG
        assert (await http.get("/v1/eval/latest", headers=other)).status_code == 404  # another tenant
        assert (await http.get("/v1/eval/latest/chart", headers=other)).status_code == 404
        assert (await http.get("/v1/eval/latest", headers=asker)).status_code == 403  # needs kb:read
        me = (await http.get("/v1/me", headers=other)).json()
        assert me["tenant_id"] == "other" and me["scopes"] == ["kb:read"] and me["key_id"]
        assert (await http.get("/v1/me", headers=asker)).json()["scopes"] == ["ask"]
        assert (await http.get("/v1/me")).status_code == 401


async def test_the_page_is_locked_down(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get("/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "<script" in r.text and "http://" not in r.text and "https://" not in r.text
        for asset in ("/console/console.js", "/console/console.css"):
            response = await http.get(asset)
            assert response.status_code == 200 and response.headers["x-content-type-options"] == "nosniff"
            assert "http://" not in response.text and "https://" not in response.text
            assert "innerHTML" not in response.text and "eval(" not in response.text
        assert (await http.get("/console/../pyproject.toml")).status_code == 404
        assert (await http.get("/v1/eval/latest")).status_code == 401
