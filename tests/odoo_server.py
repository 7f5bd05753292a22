"""A small fake Odoo JSON-RPC server (/jsonrpc: common.login, object.execute_kw search_read) for tests."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOdoo:
    """Records per model; `search_read` honours fields, offset, limit, `=`/`>`/`in` domains and order by id."""

    def __init__(self, db: str = "odoo_core", user: str = "admin", password: str = "secret") -> None:
        self.db, self.user, self.password = db, user, password
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                params = body["params"]
                try:
                    result = outer.handle(params["service"], params["method"], params["args"])
                    reply = {"jsonrpc": "2.0", "id": body.get("id"), "result": result}
                except Exception as exc:  # noqa: BLE001 - reported the way Odoo does
                    reply = {"jsonrpc": "2.0", "id": body.get("id"),
                             "error": {"code": 200, "message": "Odoo Server Error", "data": {"message": str(exc)}}}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def handle(self, service: str, method: str, args: list[Any]) -> Any:
        self.calls.append((service, method))
        if service == "common" and method == "login":
            db, user, password = args
            return 2 if (db, user, password) == (self.db, self.user, self.password) else False
        if service == "object" and method == "execute_kw":
            db, uid, password, model, op, op_args, kwargs = args
            if (db, password) != (self.db, self.password) or uid != 2:
                raise PermissionError("Access denied")
            if op != "search_read":
                raise NotImplementedError(op)
            rows = [r for r in self.records.get(model, []) if self._match(r, op_args[0] if op_args else [])]
            rows.sort(key=lambda r: r["id"])
            offset, limit = kwargs.get("offset", 0), kwargs.get("limit") or len(rows)
            fields = kwargs.get("fields")
            page = rows[offset:offset + limit]
            return [{k: v for k, v in r.items() if not fields or k in fields or k == "id"} for r in page]
        raise NotImplementedError(f"{service}.{method}")

    @staticmethod
    def _match(row: dict[str, Any], domain: list[Any]) -> bool:
        for field, op, value in domain:
            have = row.get(field)
            if op == "=" and have != value or op == ">" and not (have is not None and have > value):
                return False
            if op == ">=" and not (have is not None and have >= value):
                return False
            if op == "in" and have not in value:
                return False
        return True

    def start(self) -> FakeOdoo:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
