"""The HTTP plumbing shared by the routers and the lane: a fast JSON response, the request id and
trailing-slash rules, the identity headers, and the JSON body reader (content type and size enforced).

Everything on the request path of a plain read is ``async`` and CPU-only: each sync dependency would cost a
thread hop (about 0.2 ms) per request.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TypeVar

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowservice.api.errors import request_id_var, unexpected_error
from flowservice.api.payloads import JsonObject, JsonValue
from flowservice.domain.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

_JSON_TYPES = ("application/json", "application/json-patch+json")


class Json(Response):
    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


# A caller's request id is echoed in headers, bodies and logs: only short printable tokens are taken as given.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=~-]{1,64}")


def request_id(raw: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's ``x-request-id`` (the last one sent) when sane (1 to 64 of ``A-Za-z0-9._:@/+=~-``), else a
    new one. ``raw``: ASGI's headers, with lower-case names."""
    incoming = None
    for name, value in raw:
        if name == b"x-request-id":
            incoming = value
    text = incoming.decode("latin-1") if incoming else ""
    return text if text and _SANE_REQUEST_ID.fullmatch(text) else uuid.uuid4().hex


def without_trailing_slash(path: str) -> str:
    """The Flow Service spec spells some routes with a trailing slash; ``/path/`` is served as ``/path``."""
    return path.rstrip("/") if len(path) > 1 and path.endswith("/") else path


class RequestIdMiddleware:
    """Gives every request an id (``x-request-id``), echoed in the response and in error bodies, and serves
    ``/path/`` as ``/path``. It also answers an exception no handler took (a bug below us) with the 500 body:
    Starlette's own last resort runs outside this middleware, where the request id is already gone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = without_trailing_slash(scope["path"])
        if path != scope["path"]:
            scope = {**scope, "path": path, "raw_path": path.encode()}
        rid = request_id(scope["headers"])
        token = request_id_var.set(rid)

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:  # half a response is out: nothing sane can follow it
                raise
            await unexpected_error(exc)(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


IDENTITY_HEADER_NAMES = ("authorization", "x-api-key", "x-gw-ims-org-id", "x-sandbox-name")


def identity_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None, str | None, str | None]:
    """The four identity headers from ASGI's raw (lower-case) headers. Each must come at most once: with two
    values, one layer could check the first while another acts on the last, so a repeat is refused."""
    values: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key in IDENTITY_HEADER_NAMES:
            if key in values:
                raise InvalidRequest(
                    f"The header '{key}' is sent more than once; send each identity header exactly once.",
                    title="Repeated header",
                )
            values[key] = value.decode("latin-1")
    return (
        values.get("authorization"),
        values.get("x-api-key"),
        values.get("x-gw-ims-org-id"),
        values.get("x-sandbox-name"),
    )


IDENTITY_HEADERS: list[JsonObject] = [
    {
        "name": "Authorization",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "Bearer {ACCESS_TOKEN} from /ims/token/v3",
    },
    {
        "name": "x-api-key",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "Your client id",
    },
    {
        "name": "x-gw-ims-org-id",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "Your organization id",
    },
    {
        "name": "x-sandbox-name",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "The sandbox, e.g. prod",
    },
]


def add_identity_headers(schema: JsonObject) -> JsonObject:
    """Declare the identity headers on every operation under ``/data`` of the OpenAPI document."""
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/data/"):
            continue
        for operation in operations.values():
            params = operation.setdefault("parameters", [])
            params[:0] = [dict(h) for h in IDENTITY_HEADERS]
            if "requestBody" in operation:
                params.append(
                    {
                        "name": "Content-Type",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "enum": ["application/json"]},
                    }
                )
    return schema


async def read_json_body(headers: Mapping[str, str], chunks: AsyncIterator[bytes], limit: int) -> object:
    """A request's JSON body: 415 for another content type, 413 over ``limit`` bytes, 400 when malformed.
    ``headers`` by lower-case name."""
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise UnsupportedMediaType(
            "A valid content-type must be specified: send 'Content-Type: application/json' with a body."
        )
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")
        parts.append(chunk)
    raw = b"".join(parts)
    if not raw.strip():
        raise InvalidRequest(
            "The request body cannot be null or empty. Please provide a request body and try again.", code="1405"
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from None


def body_schema(example: object) -> JsonObject:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        }
    }


Endpoint = TypeVar("Endpoint", bound=Callable[..., object])


def route(
    router: APIRouter,
    method: str,
    path: str,
    *,
    status_code: int | None = None,
    summary: str | None = None,
    responses: dict[int | str, JsonObject] | None = None,
    openapi_extra: JsonObject | None = None,
    operation_id: str | None = None,
) -> Callable[[Endpoint], Endpoint]:
    """Register a route answering JSON; ``RequestIdMiddleware`` maps ``path/`` onto it. What the route returns
    is serialized as any JSON value (``JsonValue``), not by its annotation; a 204 has no body to serialize."""

    def decorator(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            response_class=Json,
            response_model=None if status_code == 204 else JsonValue,
            status_code=status_code,
            summary=summary,
            responses=responses,
            openapi_extra=openapi_extra,
            operation_id=operation_id,
        )
        return endpoint

    return decorator


MAX_OFFSET = 2**31 - 1  # a paging offset past this is no page (and overflows some databases' OFFSET)


def int_param(request: Request, name: str, default: int, minimum: int, maximum: int) -> int:
    """An integer query parameter within ``[minimum, maximum]``; 400 naming the parameter and its bounds."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    text = raw.strip()
    bounds = f"between {minimum} and {maximum}"
    if not re.fullmatch(r"[+-]?[0-9]{1,20}", text):
        shown = repr(raw) if len(raw) <= 40 else f"{raw[:40]!r}…"
        raise InvalidRequest(f"The query parameter '{name}' must be an integer {bounds}; got {shown}.")
    value = int(text)
    if not minimum <= value <= maximum:
        raise InvalidRequest(f"The query parameter '{name}' must be an integer {bounds}; got {value}.")
    return value


def query_pairs(request: Request) -> list[tuple[str, str]]:
    return list(request.query_params.multi_items())


def if_match(request: Request) -> str | None:
    """``If-Match`` header, or the ``if-match`` query parameter an old Postman collection sends."""
    return request.headers.get("if-match") or request.query_params.get("if-match")
