"""What every request passes before its handler (the app's before_request): a NUL character in the URL and a
query parameter the operation does not take are refused, a JSON body is decoded strictly into the type its
handler declares (a 0 is not a boolean, a null is not an object), and OPTIONS answers with the methods its path
really has. Also the typed body of the handlers that
read their request themselves (they take uploads as well)."""
from __future__ import annotations

import re
import types
import typing
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.handlers import BaseRouteHandler

from sql.errors import BadRequest, InvalidInput
from sql.values import MAX_JSON_DEPTH

# \u0000 escaped in a JSON string (not the text "\\u0000"): PostgreSQL text and jsonb cannot store it
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def body_type(handler: BaseRouteHandler) -> tuple[Any, bool] | None:
    """The JSON body a handler reads and whether it may be absent: its typed `data` parameter, or (for the
    handlers that also take uploads and read the request themselves) opt["body"]."""
    if "body" in handler.opt:
        return handler.opt["body"], False
    parameter = handler.parsed_fn_signature.parameters.get("data")  # type: ignore[attr-defined]
    if parameter is None:
        return None
    annotation = parameter.annotation
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return annotation, False
    members = [t for t in typing.get_args(annotation) if t is not type(None)]
    return members[0], True


def decode_json(body: bytes, type_: type[Any]) -> Any:
    """Decode a JSON body into a msgspec type, strictly; malformed -> 400, wrong shape -> 422, with the reason."""
    if not body.strip():
        raise BadRequest("the request body is empty; send a JSON object")
    if _JSON_NUL.search(body):
        raise InvalidInput("a string in the JSON body holds the NUL character (\\u0000), which cannot be stored")
    try:
        try:
            return msgspec.json.decode(body, type=type_)
        except msgspec.ValidationError as exc:
            # JSON (and JSON Schema's "integer") counts 2.0 as an integer; msgspec's strict decoding does not
            try:
                return msgspec.convert(_integral(msgspec.json.decode(body)), type_)
            except msgspec.ValidationError:
                raise InvalidInput(f"the JSON body does not fit: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidInput(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels") from exc


def _integral(value: Any) -> Any:
    """A decoded JSON value with its integral numbers (2.0, 1e2) as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


async def read_body(request: Request) -> Any:
    """The JSON body of a handler that also takes uploads (so reads its request itself), decoded into the type
    it declares as opt["body"] (which documents it in the OpenAPI document)."""
    return decode_json(await request.body(), request.route_handler.opt["body"])


async def check_request(request: Request) -> Response | None:
    """Before any handler. A query parameter the operation does not take is a 400 (as an unknown body field is a
    422), and so is one given twice that takes one value (Litestar would keep one of them silently). A NUL
    character in the path or query (%00) is a 400, in a JSON body's string a 422,
    since no PostgreSQL text can hold it (and a streamed response could not report the error once started). A
    typed JSON body is decoded strictly here: Litestar's own conversion is lenient (it takes 0 for false, as it
    must for query strings). The webhook receivers read and audit their raw bodies themselves."""
    if b"%00" in request.scope["query_string"] or "\x00" in request.scope["path"]:
        raise BadRequest("the URL holds a NUL character (%00)")
    if request.method == "OPTIONS":
        return _options(request)
    handler = request.route_handler
    known = handler.opt.get("query")
    params = request.query_params
    if known is not None and params:
        if unknown := sorted(set(params) - known):
            takes = f"it takes {', '.join(sorted(known))}" if known else "it takes none"
            raise BadRequest(f"unknown query parameter {unknown[0][:64]!r}; {takes}")
        for name in params:
            if len(values := params.getall(name)) > 1 and name not in handler.opt["query_lists"]:
                raise BadRequest(f"query parameter {name!r} is given {len(values)} times; it takes one value")
    if request.method not in ("POST", "PUT", "PATCH") or handler.opt.get("raw_body") or "body" in handler.opt:
        return None
    content_type = request.headers.get("content-type", "")
    declared = body_type(handler)
    if declared is None or "multipart/" in content_type or "urlencoded" in content_type:
        return None
    body = await request.body()
    type_, optional = declared
    if optional and not body.strip():
        return None
    decode_json(body, type_)
    return None


def _options(request: Request) -> Response:
    """The methods of the requested path. Litestar's own OPTIONS handler lists only the methods of the first
    handler group registered for a path (GET and POST from one controller come as two groups)."""
    path = next(iter(request.route_handler.paths))
    methods = request.app.route_handler_method_map.get(path, {})
    return Response(content=None, status_code=204, headers={"Allow": ", ".join(sorted(methods))})
