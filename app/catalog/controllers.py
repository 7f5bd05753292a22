"""The catalog API: /v1/catalog/assets, /v1/catalog/lineage, /v1/catalog/sync."""
from __future__ import annotations

from typing import Annotated

import httpx
import msgspec
from litestar import Controller, delete, get, post, put
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from litestar.response import Response

from app.catalog.fqdn import FQDN_SCHEMA
from app.catalog.schemas import AssetIn, AssetOut, AssetPage, LineageOut, LinkIn, SyncOut
from app.catalog.service import AssetSpec, Catalog
from app.catalog.sync import run_sync
from sql.errors import Forbidden, InvalidInput
from app.odoo.jsonrpc import OdooClient, OdooConnection, same_origin
from app.odoo.secrets import ODOO_PASSWORD
from app.params import HttpUrl, Name, stated_param
from app.services import Services
from sql.queries import q


FqdnPath = Annotated[str, stated_param(**FQDN_SCHEMA)]


class OdooIn(msgspec.Struct, forbid_unknown_fields=True):
    url: HttpUrl
    db: Name
    user: Name
    password: str


class SyncIn(msgspec.Struct, forbid_unknown_fields=True):
    odoo: OdooIn | None = None


class CatalogController(Controller):
    path = "/v1/catalog"
    tags = ["catalog"]

    @put("/assets/{fqdn:str}", operation_id="putAsset", opt={"scope": "catalog"},
         responses={201: ResponseSpec(data_container=AssetOut, description="Registered (200: updated)")})
    async def put_asset(self, data: AssetIn, services: Services, tenant_id: str,
                        fqdn: FqdnPath) -> Response[AssetOut]:
        """Register or update an asset under its FQDN (system.db.model)."""
        if not data.type.strip():
            raise InvalidInput("type is empty (e.g. table, view, odoo_model, analytics_view)")
        catalog = Catalog(services, tenant_id)
        inserted, _ = await catalog.register([AssetSpec(fqdn, data.type, data.metadata, data.owner, data.tags)])
        return Response(await catalog.get(fqdn), status_code=201 if inserted else 200)

    @get("/assets/{fqdn:str}", operation_id="getAsset", opt={"scope": "catalog"})
    async def get_asset(self, services: Services, tenant_id: str, fqdn: FqdnPath) -> AssetOut:
        """One asset."""
        return await Catalog(services, tenant_id).get(fqdn)

    @delete("/assets/{fqdn:str}", operation_id="deleteAsset", status_code=204, opt={"scope": "catalog"})
    async def delete_asset(self, services: Services, tenant_id: str, fqdn: FqdnPath) -> None:
        """Delete an asset and its lineage edges."""
        await Catalog(services, tenant_id).delete(fqdn)

    @get("/assets", operation_id="listAssets", opt={"scope": "catalog"})
    async def list_assets(
        self, services: Services, tenant_id: str, q: str | None = None,
        type: str | None = None, system: str | None = None,  # noqa: A002 - the API's own names
        limit: int = Parameter(default=20, ge=1, le=200),
        offset: int = Parameter(default=0, ge=0, le=199, description="with q: the pages end after the best 200 matches"),
        cursor: str = "",
    ) -> AssetPage:
        """List assets, or with q a fuzzy lookup (trigram candidates re-ranked with rapidfuzz)."""
        items, next_cursor = await Catalog(services, tenant_id).search(
            q, type_=type, system=system, limit=limit, offset=offset, cursor=cursor)
        return AssetPage(items=items, next_cursor=next_cursor, offset=offset if q else None)

    @post("/lineage", operation_id="linkAssets", status_code=201, opt={"scope": "catalog"})
    async def link(self, data: LinkIn, services: Services, tenant_id: str) -> dict[str, str]:
        """Record that data flows from one asset to another."""
        await Catalog(services, tenant_id).link([(data.from_fqdn, data.to_fqdn, data.relation)])
        return {"from_fqdn": data.from_fqdn, "to_fqdn": data.to_fqdn, "relation": data.relation}

    @get("/lineage/{fqdn:str}", operation_id="lineage", opt={"scope": "catalog"})
    async def lineage(self, services: Services, tenant_id: str, fqdn: FqdnPath,
                      direction: str = stated_param("up: what feeds the asset; down: what it feeds", default="down",
                                                    enum=["up", "down"]),
                      depth: int = 3) -> LineageOut:
        """Upstream or downstream lineage, recursive and cycle-safe."""
        edges = await Catalog(services, tenant_id).lineage(fqdn, direction, depth)
        return LineageOut(fqdn=fqdn, direction=direction, depth=depth, edges=edges)  # type: ignore[arg-type]

    @post("/sync", operation_id="catalogSync", status_code=200,
          opt={"scope": "catalog"})
    async def sync(self, services: Services, tenant_id: str, data: SyncIn | None = None) -> SyncOut:
        """Register the service's own tables, views and functions, Odoo models and modules, KB sources."""
        data = data or SyncIn()
        odoo = data.odoo
        settings = services.settings.odoo
        if odoo:  # the service calls only Odoo instances it knows, never any URL a request names
            registered = [r["base_url"] for r in await services.db.tenant(tenant_id).fetch(q("odoo_instance_urls"))]
            if not same_origin(odoo.url, [*registered, *filter(None, [settings.url]), *settings.allowed_hosts]):
                raise Forbidden("odoo.url is not an Odoo instance of this tenant: register it first "
                                "(POST /v1/odoo/instances), or list its host in ODOO_ALLOWED_HOSTS")
        conn = (OdooConnection(odoo.url, odoo.db, odoo.user, odoo.password) if odoo else
                OdooConnection(settings.url, settings.db, settings.user,
                               await services.secret(tenant_id, ODOO_PASSWORD, settings.password))
                if settings.url else None)
        async with httpx.AsyncClient(timeout=30) as http:
            client = OdooClient(conn, http) if conn else None
            return SyncOut(scopes=await run_sync(Catalog(services, tenant_id), client))
