"""Request bodies in the OpenAPI document: each handler's declared opt["body"] type, as msgspec's JSON Schema."""
from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.spec import Components, OpenAPIMediaType, RequestBody

# A file upload to POST /v1/kb/documents, the form ingest reads (besides a JSON body).
UPLOAD_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "Markdown, reStructuredText, text, HTML, PDF or BEIR JSON Lines (.gz too)"},
        "external_id": {"type": "string"},
        "title": {"type": "string"},
        "source": {"type": "string"},
        "language": {"type": "string"},
        "metadata": {"type": "string", "description": 'a JSON object, e.g. {"team": "finance"}'},
    },
}
FORMS = {"createDocument": UPLOAD_FORM}


def document_request_bodies(app: Litestar) -> None:
    """Handlers read their JSON bodies themselves (app.problems.read_body, for problem-details errors), so
    Litestar cannot see them: add each one's schema to its operation, and the schemas to the components."""
    handlers = [h for route in app.routes for h in getattr(route, "route_handlers", ()) if "body" in h.opt]
    if not handlers:
        return
    types = {h.operation_id: h.opt["body"] for h in handlers}
    refs, components = msgspec.json.schema_components(list(types.values()),
                                                      ref_template="#/components/schemas/{name}")
    ref_of = dict(zip(types, refs))
    optional = {h.operation_id for h in handlers if h.opt.get("body_optional")}
    document = app.openapi_schema
    if document.components is None:
        document.components = Components()
    document.components.schemas = {**components, **(document.components.schemas or {})}  # type: ignore[dict-item]
    for path_item in (document.paths or {}).values():
        for method in ("post", "put", "patch"):
            operation = getattr(path_item, method, None)
            if operation is None or operation.operation_id not in ref_of:
                continue
            content = {"application/json": OpenAPIMediaType(schema=ref_of[operation.operation_id])}
            if operation.operation_id in FORMS:
                content["multipart/form-data"] = OpenAPIMediaType(schema=FORMS[operation.operation_id])  # type: ignore[arg-type]
            operation.request_body = RequestBody(content=content, required=operation.operation_id not in optional)
