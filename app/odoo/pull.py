"""Pull sync for scheduled jobs: search_read on write_date after the cursor, page by page, each page's
effects and the cursor's move committed together, so a stopped run resumes where it left off."""
from __future__ import annotations

from typing import Any

from app.odoo.handlers import Change, ChangeHandlers, parse_write_date
from app.odoo.jsonrpc import OdooClient
from app.services import Services
from sql.queries import q

EPOCH = "1970-01-01 00:00:00"


async def pull(services: Services, handlers: ChangeHandlers, client: OdooClient, instance: Any, model: str,
               fields: list[str] | None = None, page_size: int = 200) -> dict[str, Any]:
    tenant = services.db.tenant(instance["tenant_id"])
    cursor = await tenant.fetchrow(q("odoo_cursor"), instance["id"], model)
    last = (cursor["last_write_date"], cursor["last_id"]) if cursor else (parse_write_date(EPOCH), 0)
    since = last[0].strftime("%Y-%m-%d %H:%M:%S")
    applied = 0
    page: list[dict[str, Any]] = []

    async def flush() -> None:
        nonlocal last, applied
        async with tenant.acquire() as conn:
            for record in page:
                change = Change(instance["id"], instance["name"], instance["database"], instance["tenant_id"],
                                "write", model, int(record["id"]), record)
                await handlers.apply(conn, change)
                last = max(last, (change.write_date, int(record["id"])))
                applied += 1
            await conn.execute(q("odoo_cursor_save"), instance["id"], instance["tenant_id"], model, last[0], last[1])
        page.clear()

    # Records written in the cursor's own second are read again and skipped by (write_date, id).
    async for record in client.search_read(model, [["write_date", ">=", since]], fields or [], page_size=page_size,
                                           order="write_date asc, id asc"):
        if (parse_write_date(record.get("write_date")), int(record["id"])) <= last:
            continue
        page.append(record)
        if len(page) >= page_size:
            await flush()
    if page:
        await flush()
    return {"model": model, "applied": applied, "cursor": {"write_date": last[0].isoformat(), "id": last[1]}}
