"""The OpenAPI document as the API's contract: request bodies, problem-details errors, credentials and scopes."""
from __future__ import annotations

from typing import Any

import re

import msgspec
from litestar import Litestar, Request
from litestar.handlers import BaseRouteHandler
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.routes import HTTPRoute
from litestar.openapi.spec import (
    Components, OpenAPIHeader, OpenAPIMediaType, OpenAPIResponse, Operation, Parameter, Reference, RequestBody,
    Schema, SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType

from app.bodies import body_type
from app.kb.schemas import UPLOAD_ENCODING, UPLOAD_FORM
from app.params import NO_NUL
from app.problems import PROBLEM_JSON
from app.security.auth import ANY_SCOPE

JSON_VALUE: dict[str, Any] = {
    "description": "any JSON value; no string (or key) in it may hold the NUL character",
    "anyOf": [{"type": "string", "pattern": NO_NUL}, {"type": "number"}, {"type": "boolean"}, {"type": "null"},
              {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
              {"$ref": "#/components/schemas/JsonObject"}],
}
JSON_OBJECT: dict[str, Any] = {"type": "object", "propertyNames": {"pattern": NO_NUL},
                               "additionalProperties": {"$ref": "#/components/schemas/JsonValue"}}

FORMS = {"createDocument": UPLOAD_FORM, "updateDocument": UPLOAD_FORM}
JSON_PARAMETERS = {"metadata": {"$ref": "#/components/schemas/JsonObject"}}
"""Query parameters that carry JSON (e.g. GET /v1/kb/documents?metadata={"team":"finance"})."""


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


def query_parameters(app: Litestar) -> None:
    """Each documented handler's query parameters, and those that take a list (as its OpenAPI document states
    them: both come from the handler's signature and dependencies): any other is refused (app.bodies), as is a
    parameter given twice that takes one value."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler, kwargs in route.route_handler_map.values():
            if handler.resolve_include_in_schema():
                handler.opt["query"] = frozenset(p.field_alias for p in kwargs.expected_query_params)
                handler.opt["query_lists"] = frozenset(p.field_alias for p in kwargs.expected_query_params
                                                       if p.is_sequence)


class JsonDocument(JsonRenderPlugin):
    """The document (/docs/openapi.json, which the reference page at /docs loads), completed."""

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, completed_document(request.app))


def completed_document(app: Litestar) -> dict[str, Any]:
    """Litestar's document completed by document_api, built on its first request (building it takes as long
    as the rest of the app's start), then kept."""
    if (document := app.state.get("openapi_document")) is None:
        document_api(app)
        if (dimensions := app.state.get("embedding_dimensions")) is not None:
            state_dimensions(app, dimensions)
        document = app.state.openapi_document = app.openapi_schema.to_schema()
    return document


def document_api(app: Litestar) -> None:
    """Complete Litestar's document: request bodies, the errors every operation may answer with (its own 400
    entries included: every error is problem+json), and for each operation the credentials and scope it needs."""
    handlers = {h.operation_id: h for route in app.routes for h in getattr(route, "route_handlers", ())}
    document = app.openapi_schema
    if document.components is None:
        document.components = Components()
    operations = [op for item in (document.paths or {}).values()
                  for op in (getattr(item, m) for m in ("get", "head", "put", "post", "delete", "patch"))
                  if op is not None]
    document_request_bodies(document.components, operations, handlers)
    schemas = document.components.schemas or {}
    document.components.schemas = {**schemas, "Problem": PROBLEM_SCHEMA, "JsonValue": JSON_VALUE,  # type: ignore[dict-item]
                                   "JsonObject": JSON_OBJECT}
    for operation in operations:
        for parameter in operation.parameters or ():
            if not isinstance(parameter, Parameter):
                continue
            if handlers.get(operation.operation_id) and parameter.name in JSON_PARAMETERS:
                parameter.content = {"application/json": OpenAPIMediaType(schema=JSON_PARAMETERS[parameter.name])}  # type: ignore[dict-item]
                parameter.schema = None
            elif isinstance(parameter.schema, Schema):  # a URL with %00 is refused (app.bodies)
                for schema in (parameter.schema, *(parameter.schema.one_of or ()), *(parameter.schema.any_of or ())):
                    if (isinstance(schema, Schema) and schema.type == OpenAPIType.STRING
                            and not (schema.pattern or schema.enum or schema.format)):
                        schema.pattern = NO_NUL
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
        if handler is not None and handler.opt.get("download"):
            _document_download(responses)
        if handler is not None and handler.opt.get("headers_only"):  # HEAD: the GET's headers, no body
            responses["200"] = OpenAPIResponse(description="The object's headers (ETag, Content-Length, "
                                                           "Content-Type), without its bytes.")
        if handler is not None and handler.opt.get("upload"):
            operation.request_body = RequestBody(required=True, description=UPLOAD_BODY, content={
                "application/octet-stream": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format="binary"))})
        if handler is None or handler.opt.get("public"):
            continue
        operation.security = [{"bearer": []}, {"apiKey": []}]
        scope = handler.opt.get("scope", "admin")
        needs = "Needs credentials (any scope)." if scope == ANY_SCOPE else f"Needs the scope `{scope}`."
        operation.description = f"{operation.description}\n\n{needs}" if operation.description else needs


UPLOAD_BODY = ("The object's bytes, streamed; its Content-Type (any media type the bucket takes, "
               "application/octet-stream included where the bucket takes */*) is stored with it.")


def _document_download(responses: dict[str, OpenAPIResponse]) -> None:
    """A download: the stored bytes in their own media type, whole or (206) the one range asked for."""
    binary = {"*/*": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format="binary"))}
    headers = {"ETag": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), description="the SHA-256 in quotes")}
    responses["200"] = OpenAPIResponse(description="The object's bytes, in its content type.", content=binary,
                                       headers=headers)
    responses["206"] = OpenAPIResponse(description="The byte range asked for (Range: bytes=a-b).", content=binary,
                                       headers={**headers, "Content-Range": OpenAPIHeader(
                                           schema=Schema(type=OpenAPIType.STRING))})
    responses["304"] = OpenAPIResponse(description="Not modified: If-None-Match named the ETag.")


def _event_schema(names: tuple[str, ...]) -> dict[str, Any]:
    """One Server-Sent Event: named events with JSON data (and an id to resume from), or data-only ones."""
    data = {"type": "string", "description": "JSON (a data-only stream ends with [DONE])"}
    if not names:
        return {"type": "object", "required": ["data"], "properties": {"data": data}}
    return {"type": "object", "required": ["event", "data"],
            "properties": {"event": {"enum": list(names)}, "data": data, "id": {"type": "string"}}}


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
    for schema in schemas.values():
        _state_storable(schema)
    for type_, _ in types.values():  # a rule across fields (e.g. exactly one of two), from the type's json_schema
        if isinstance(getattr(type_, "json_schema", None), dict):
            schemas[type_.__name__].update(type_.json_schema)
    components.schemas = {**(components.schemas or {}), **schemas}  # type: ignore[dict-item]
    for operation in operations:
        if operation.operation_id not in ref_of:
            continue
        content = {"application/json": OpenAPIMediaType(schema=ref_of[operation.operation_id])}
        if operation.operation_id in FORMS:
            content["multipart/form-data"] = OpenAPIMediaType(schema=FORMS[operation.operation_id],  # type: ignore[arg-type]
                                                              encoding=UPLOAD_ENCODING)  # type: ignore[arg-type]
        optional = types[operation.operation_id][1]
        operation.request_body = RequestBody(content=content, required=not optional)


# an anchored pattern whose every character is named (no negated class, ".", "\S", "\W" or "\D"): no NUL
_NAMES_ITS_CHARACTERS = re.compile(r"^\^(?!.*(\[\^|(?<!\\)\.|\\[SWD])).*\$$")
_SCHEMA_KEYS = ("type", "anyOf", "oneOf", "allOf", "$ref", "enum", "const", "properties")


def _state_storable(schema: Any, value: bool = True) -> None:
    """State in a body's schema what storing it needs: no string holds NUL; a free-form value (Any, an object
    without properties) is a JsonValue / JsonObject, which says the same of the strings inside. value: the
    schema describes a value (a property, an item), not one branch of a combination."""
    if not isinstance(schema, dict):
        return
    for key, member in list(schema.items()):
        if key == "properties":
            for each in member.values():
                _state_storable(each)
        elif key in ("items", "additionalProperties"):
            _state_storable(member)
        elif key in ("anyOf", "oneOf", "allOf"):
            for each in member:
                _state_storable(each, value=False)
        elif key == "contains":
            _state_storable(member, value=False)
    kind = schema.get("type")
    if kind == "string" and not {"format", "enum", "const"} & schema.keys():
        if "pattern" in schema:
            if not _NAMES_ITS_CHARACTERS.match(schema["pattern"]):
                schema.setdefault("allOf", []).append({"pattern": NO_NUL})
        else:
            schema["pattern"] = NO_NUL
    elif kind == "object" and "additionalProperties" not in schema:  # free-form, or a struct that takes more
        schema.update(JSON_OBJECT)
    elif value and not any(k in schema for k in _SCHEMA_KEYS):
        schema["$ref"] = "#/components/schemas/JsonValue"


def state_dimensions(app: Litestar, dimensions: int) -> None:
    """A query embedding has the dimensions of the model this server embeds with (known once it started)."""
    schemas = (app.openapi_schema.components.schemas or {}) if app.openapi_schema.components else {}
    search = schemas.get("SearchIn")
    if isinstance(search, dict):
        vector = search["properties"]["query_embedding"]["anyOf"][0]
        vector.update(minItems=dimensions, maxItems=dimensions)
