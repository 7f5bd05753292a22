"""The OpenAPI document as the API's contract: request bodies, problem-details errors, credentials and scopes."""
from __future__ import annotations

import typing
from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import BaseRouteHandler
from litestar.openapi.spec import (
    Components, OpenAPIHeader, OpenAPIMediaType, OpenAPIResponse, Operation, Reference, RequestBody, Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType

from app.problems import PROBLEM_JSON

# A file upload to POST /v1/kb/documents, the form ingest reads (besides a JSON body).
UPLOAD_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "Markdown, reStructuredText, text, HTML, PDF, Word, Excel, CSV or JSON Lines (.gz too)"},
        "external_id": {"type": "string"},
        "title": {"type": "string"},
        "source": {"type": "string"},
        "language": {"type": "string"},
        "metadata": {"type": "string", "description": 'a JSON object, e.g. {"team": "finance"}'},
    },
}
FORMS = {"createDocument": UPLOAD_FORM}


# Every error is an RFC 9457 problem-details body (app.problems).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "a URI naming the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "what was wrong, in words"},
        "instance": {"type": "string", "description": "the request path"},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "each invalid parameter"},
    },
}
PROBLEM = Reference(ref="#/components/schemas/Problem")
ERRORS = {
    "4XX": "The request was refused; the body says why (400 unreadable, 401 credentials, 403 scope or tenant, "
           "404, 409, 413 too large, 415 file type, 422 invalid content, 429 rate limit).",
    "503": "The database or a model server is unavailable; retry later.",
}
SECURITY_SCHEMES = {
    "bearer": SecurityScheme(type="http", scheme="bearer",
                             description="An API key (ipai_...) or a JWT, as `Authorization: Bearer ...`."),
    "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header",
                             description="An API key in the X-API-Key header."),
}


def document_api(app: Litestar) -> None:
    """Complete Litestar's document: request bodies, the errors every operation may answer with (its own 400
    entries included: every error is problem+json), and for each operation the credentials and scope it needs."""
    handlers = {h.operation_id: h for route in app.routes for h in getattr(route, "route_handlers", ())}
    document = app.openapi_schema
    if document.components is None:
        document.components = Components()
    operations = [op for item in (document.paths or {}).values()
                  for op in (getattr(item, m) for m in ("get", "put", "post", "delete", "patch")) if op is not None]
    document_request_bodies(document.components, operations, handlers)
    schemas = document.components.schemas or {}
    document.components.schemas = {**schemas, "Problem": PROBLEM_SCHEMA}  # type: ignore[dict-item]
    document.components.security_schemes = {**(document.components.security_schemes or {}), **SECURITY_SCHEMES}
    for operation in operations:
        handler = handlers.get(operation.operation_id)
        responses = operation.responses = dict(operation.responses or {})
        for code in [c for c in responses if c.startswith("4")]:
            del responses[code]
        for code, description in ERRORS.items():
            responses[code] = OpenAPIResponse(description=description,
                                              content={PROBLEM_JSON: OpenAPIMediaType(schema=PROBLEM)})
        responses["4XX"].headers = {"Retry-After": OpenAPIHeader(
            schema=Schema(type=OpenAPIType.INTEGER),
            description="with a 429: seconds until the key may send again")}
        if handler is not None and "streams" in handler.opt:  # with stream=true; or always, as an event stream
            success = responses[str(handler.status_code)]
            event = _event_schema(handler.opt["streams"])
            events = {"text/event-stream": OpenAPIMediaType(schema=event)}  # type: ignore[arg-type]
            success.content = events if handler.opt.get("stream_only") else {**(success.content or {}), **events}
        if handler is None or handler.opt.get("public"):
            continue
        operation.security = [{"bearer": []}, {"apiKey": []}]
        scope = handler.opt.get("scope", "admin")
        needs = f"Needs the scope `{scope}`."
        operation.description = f"{operation.description}\n\n{needs}" if operation.description else needs


def _event_schema(names: tuple[str, ...]) -> dict[str, Any]:
    """One Server-Sent Event: named events with JSON data (and an id to resume from), or data-only ones."""
    data = {"type": "string", "description": "JSON (a data-only stream ends with [DONE])"}
    if not names:
        return {"type": "object", "required": ["data"], "properties": {"data": data}}
    return {"type": "object", "required": ["event", "data"],
            "properties": {"event": {"enum": list(names)}, "data": data, "id": {"type": "string"}}}


def body_type(handler: BaseRouteHandler) -> tuple[Any, bool] | None:
    """The JSON body a handler reads and whether it may be absent: its typed `data` parameter, or (for the
    handlers that also take uploads and read the request themselves) opt["body"]."""
    if "body" in handler.opt:
        return handler.opt["body"], False
    parameter = handler.parsed_fn_signature.parameters.get("data")  # type: ignore[attr-defined]
    if parameter is None:
        return None
    members = [t for t in typing.get_args(parameter.annotation) if t is not type(None)]
    return (members[0], True) if members else (parameter.annotation, False)


def document_request_bodies(components: Components, operations: list[Operation],
                            handlers: dict[str, BaseRouteHandler]) -> None:
    """Each operation's JSON body as msgspec describes its type, so that the rules a handler checks in its own
    words (app.params.stated: patterns, ranges, enums) are in the document too; upload forms beside them."""
    types = {name: found for name, h in handlers.items() if (found := body_type(h)) is not None}
    if not types:
        return
    refs, schemas = msgspec.json.schema_components([t for t, _ in types.values()],
                                                   ref_template="#/components/schemas/{name}")
    ref_of = dict(zip(types, refs))
    components.schemas = {**(components.schemas or {}), **schemas}  # type: ignore[dict-item]
    for operation in operations:
        if operation.operation_id not in ref_of:
            continue
        content = {"application/json": OpenAPIMediaType(schema=ref_of[operation.operation_id])}
        if operation.operation_id in FORMS:
            content["multipart/form-data"] = OpenAPIMediaType(schema=FORMS[operation.operation_id])  # type: ignore[arg-type]
        optional = types[operation.operation_id][1]
        operation.request_body = RequestBody(content=content, required=not optional)
