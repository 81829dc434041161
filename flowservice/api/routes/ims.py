"""``POST /ims/token/v3``: client credentials in, a signed bearer token out (the IMS call Adobe clients make)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import anyio
from fastapi import APIRouter, Request
from starlette.datastructures import State
from starlette.responses import Response
from starlette.types import Message, Receive

from flowservice.api.deps import ContainerDep
from flowservice.api.errors import error_response
from flowservice.api.http import Json
from flowservice.domain.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from flowservice.services.identity import InvalidClient
from flowservice.services.token_guard import TooManyFailures

router = APIRouter(tags=["identity"])


@router.post(
    "/ims/token/v3",
    response_class=Json,
    summary="Exchange client credentials for an access token",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type", "client_id", "client_secret"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string", "format": "password"},
                            "scope": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def token(request: Request, services: ContainerDep) -> Response:
    settings = services.settings
    raw = await _capped_body(request, settings.token_max_body_bytes)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    elif content_type == "multipart/form-data":
        form = {k: str(v) for k, v in (await Request(request.scope, _replay(raw)).form()).items()}
    else:
        raise UnsupportedMediaType("Send the token request as application/x-www-form-urlencoded.")
    # query parameters are accepted too, as IMS does
    fields = {**dict(request.query_params), **form}
    missing = [k for k in ("grant_type", "client_id", "client_secret") if not fields.get(k)]
    if missing:
        raise InvalidRequest(f"The token request lacks: {', '.join(missing)}.")
    identity = services.identity
    client_id, address = fields["client_id"], request.client.host if request.client else ""
    try:
        identity.guard.attempt(client_id, address)
    except TooManyFailures as exc:
        response = error_response(exc)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    # scrypt costs tens of milliseconds: off the event loop, and a few at a time so that a flood of wrong
    # secrets cannot take every worker thread either
    limiter = _hash_limiter(request.app.state, settings.token_hash_threads)
    try:
        issued = await anyio.to_thread.run_sync(
            identity.issue_token, fields["grant_type"], client_id, fields["client_secret"], limiter=limiter
        )
    except InvalidClient:
        raise  # the attempt stays counted as a failure
    except BaseException:
        identity.guard.succeeded(client_id, address)  # not a wrong secret (bad grant_type, cancelled...)
        raise
    identity.guard.succeeded(client_id, address)
    return Json(issued)


async def _capped_body(request: Request, limit: int) -> bytes:
    """The body, read as it streams in and refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The token request is larger than the limit of {limit} bytes.")
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The token request is larger than the limit of {limit} bytes.")
        parts.append(chunk)
    return b"".join(parts)


def _replay(raw: bytes) -> Receive:
    async def receive() -> Message:
        return {"type": "http.request", "body": raw, "more_body": False}

    return receive


def _hash_limiter(state: State, threads: int) -> anyio.CapacityLimiter:
    """The app's limiter of concurrent hashes, made on first use: it needs the running event loop."""
    limiter: anyio.CapacityLimiter | None = getattr(state, "token_hash_limiter", None)
    if limiter is None:
        limiter = state.token_hash_limiter = anyio.CapacityLimiter(max(1, threads))
    return limiter
