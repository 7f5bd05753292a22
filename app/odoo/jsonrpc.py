"""Odoo's external API over /jsonrpc: login, execute_kw, paged search_read."""
from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from sql.errors import InvalidInput, UpstreamError


log = logging.getLogger(__name__)


def valid_url(url: str) -> str:
    """An http(s) URL httpx can request, else the caller's error (a broken host, a control character)."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidInput("the Odoo URL holds a control character")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise InvalidInput(f"the Odoo URL is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput("the Odoo URL must be http(s)://host[:port][/path]")
    return url


def same_origin(url: str, allowed: Iterable[str]) -> bool:
    """Whether url's scheme, host and port are those of one of the allowed URLs (or bare host names)."""
    parsed = httpx.URL(valid_url(url))
    for other in allowed:
        if "://" not in other:
            if parsed.host == other.lower():
                return True
            continue
        try:
            known = httpx.URL(other)
        except (httpx.InvalidURL, ValueError, TypeError):
            continue
        if (known.scheme, known.host, known.port) == (parsed.scheme, parsed.host, parsed.port):
            return True
    return False


@dataclass(frozen=True)
class OdooConnection:
    url: str
    db: str
    user: str
    password: str


class OdooClient:
    """A thin JSON-RPC client; the HTTP client is passed in so tests and callers share one."""

    def __init__(self, conn: OdooConnection, http: httpx.AsyncClient) -> None:
        self.conn = conn
        self.http = http
        self._uid: int | None = None
        self._ids = itertools.count(1)

    async def _call(self, service: str, method: str, *args: Any) -> Any:
        payload = {"jsonrpc": "2.0", "method": "call", "id": next(self._ids),
                   "params": {"service": service, "method": method, "args": list(args)}}
        url = f"{valid_url(self.conn.url).rstrip('/')}/jsonrpc"
        try:
            response = await self.http.post(url, json=payload)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            # What the remote said stays in the log: echoing it would turn this endpoint into a port scanner.
            log.warning("Odoo JSON-RPC at %s failed: %s: %s", self.conn.url, exc.__class__.__name__, exc)
            raise UpstreamError(f"Odoo at {self.conn.url} could not be reached or did not answer JSON-RPC") from exc
        if body.get("error"):
            error = body["error"]
            message = (error.get("data") or {}).get("message") or error.get("message") or "unknown error"
            raise UpstreamError(f"Odoo {service}.{method} failed: {message}")
        return body.get("result")

    async def login(self) -> int:
        if self._uid is None:
            uid = await self._call("common", "login", self.conn.db, self.conn.user, self.conn.password)
            if not uid:
                raise UpstreamError(f"Odoo refused the login of {self.conn.user!r} on database {self.conn.db!r}")
            self._uid = int(uid)
        return self._uid

    async def execute_kw(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any] | None = None) -> Any:
        uid = await self.login()
        return await self._call("object", "execute_kw", self.conn.db, uid, self.conn.password, model, method,
                                args, kwargs or {})

    async def search_read(
        self, model: str, domain: list[Any], fields: list[str], *, page_size: int = 500, order: str = "id"
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching record, page by page."""
        offset = 0
        while True:
            rows = await self.execute_kw(model, "search_read", [domain],
                                         {"fields": fields, "offset": offset, "limit": page_size, "order": order})
            for row in rows:
                yield row
            if len(rows) < page_size:
                return
            offset += page_size
