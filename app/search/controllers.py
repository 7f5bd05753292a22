"""POST /v1/search: the hybrid retriever over HTTP."""
from __future__ import annotations

from litestar import Controller, post

from app.search.schemas import SearchIn, SearchOut
from app.search.service import run_search
from app.services import Services


class SearchController(Controller):
    path = "/v1/search"
    tags = ["search"]

    @post("", operation_id="search", status_code=200, opt={"scope": "kb:read"})
    async def search(self, data: SearchIn, services: Services, tenant_id: str) -> SearchOut:
        """Hybrid, vector, lexical or trigram search with filters, pagination and explain."""
        return await run_search(services, tenant_id, data)
