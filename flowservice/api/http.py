"""The HTTP plumbing shared by the routers: a fast JSON response, the request id, the identity headers,
the JSON body reader (content type and size enforced), and routes that answer with or without a trailing
slash."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowservice.api.errors import request_id_var
from flowservice.domain.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from flowservice.domain.tenancy import Principal, Tenant

_JSON_TYPES = ("application/json", "application/json-patch+json")


class Json(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class RequestIdMiddleware:
    """Gives every request an id (``x-request-id``), echoed in the response and in error bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id")
        request_id = incoming.decode()[:64] if incoming else uuid.uuid4().hex
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def caller(request: Request) -> tuple[Principal, Tenant]:
    """Authenticate the four identity headers (declared on each route for the OpenAPI document)."""
    identity = request.app.state.container.identity
    h = request.headers
    principal, tenant = identity.authenticate(
        h.get("authorization"), h.get("x-api-key"), h.get("x-gw-ims-org-id"), h.get("x-sandbox-name")
    )
    request.state.principal = principal
    return principal, tenant


def identity_headers(
    authorization: str | None = Header(None, description="Bearer {ACCESS_TOKEN} from /ims/token/v3"),
    x_api_key: str | None = Header(None, description="Your client id"),
    x_gw_ims_org_id: str | None = Header(None, description="Your organization id"),
    x_sandbox_name: str | None = Header(None, description="The sandbox, e.g. prod"),
) -> None:
    """Declares the headers for OpenAPI; ``caller`` does the checking."""


Caller = Depends(caller)


async def json_body(request: Request, _who: tuple[Principal, Tenant] = Caller) -> Any:
    """The JSON body, after the caller is authenticated: 415 for another content type, 413 over the limit,
    400 for malformed JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise UnsupportedMediaType(
            "A valid content-type must be specified: send 'Content-Type: application/json' with a body."
        )
    limit = request.app.state.container.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidRequest(
            "The request body cannot be null or empty. Please provide a request body and try again.", code="1405"
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from None


Body = Depends(json_body)


def body_schema(example: Any) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"},
                                                                               "example": example}}}}


def route(router: APIRouter, method: str, path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """Register a route for ``path`` and ``path/`` (the Flow Service spec uses both spellings)."""

    def decorator(func: Callable[..., Any]) -> Any:
        router.add_api_route(path, func, methods=[method], response_class=Json, **kwargs)
        hidden = {k: v for k, v in kwargs.items() if k not in ("operation_id",)}
        hidden["include_in_schema"] = False
        router.add_api_route(path.rstrip("/") + "/", func, methods=[method], response_class=Json, **hidden)
        return func

    return decorator


def query_pairs(request: Request) -> list[tuple[str, str]]:
    return list(request.query_params.multi_items())


def if_match(request: Request) -> str | None:
    """``If-Match`` header, or the ``if-match`` query parameter an old Postman collection sends."""
    return request.headers.get("if-match") or request.query_params.get("if-match")
