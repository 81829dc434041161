"""Every error leaves as the Flow Service error body (``FLOW-NNNN-SSS``), with the request id; nothing else
(no stack trace, no framework default) reaches a client."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from flowservice.api.payloads import JsonObject
from flowservice.domain import log_context
from flowservice.domain.errors import FlowServiceError

log = logging.getLogger("flowservice.api")
request_id_var = log_context.request_id  # read by the log formatter too

ERROR_TYPE = "https://ns.adobe.com/aep/errors/FLOW-{code}-{status}"


def error_body(error: FlowServiceError) -> JsonObject:
    report: JsonObject = {"detailed-message": error.message, "request-id": request_id_var.get()}
    if error.resource_id:
        report["id"] = error.resource_id
    if error.resource_type:
        report["type"] = error.resource_type
    return {
        "type": ERROR_TYPE.format(code=error.code, status=error.status),
        "title": error.title,
        "status": error.status,
        "report": report,
        "errorMessage": error.message,
        "errorDetails": error.message,
    }


def error_response(error: FlowServiceError) -> Response:
    if error.status >= 500:
        log.warning("request failed: %s %s", error.code, error.message)
    headers = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="flowservice"'
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, int(retry_after)))
    return Response(
        orjson.dumps(error_body(error)), status_code=error.status, media_type="application/json", headers=headers
    )


# the JSON body of every error, for the OpenAPI document
ERROR_SCHEMA: JsonObject = {
    "type": "object",
    "required": ["type", "title", "status", "report"],
    "properties": {
        "type": {"type": "string", "example": "https://ns.adobe.com/aep/errors/FLOW-1101-404"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "report": {
            "type": "object",
            "properties": {
                "detailed-message": {"type": "string"},
                "request-id": {"type": "string"},
                "id": {"type": "string"},
                "type": {"type": "string"},
            },
        },
        "errorMessage": {"type": "string"},
        "errorDetails": {"type": "string"},
    },
}


def error_responses(*statuses: int) -> dict[int | str, JsonObject]:
    descriptions = {
        400: "Invalid request (validation, filters, patch, missing header)",
        401: "Missing, invalid or expired token",
        403: "x-api-key or x-gw-ims-org-id does not match the token",
        404: "Unknown resource, or a resource of another org or sandbox",
        412: "If-Match does not match the current etag",
        413: "Body larger than the limit",
        415: "Content-Type is not application/json",
        429: "Too many requests: wait the seconds of Retry-After",
        501: "An operation of Adobe's catalogue that this server does not offer (the body says why)",
        502: "The source system failed",
        503: "The source system is unavailable or throttling",
    }
    chosen = statuses or (400, 401, 403, 404)
    return {
        s: {"description": descriptions.get(s, "Error"), "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        for s in chosen
    }


def install(app: FastAPI) -> None:
    @app.exception_handler(FlowServiceError)
    async def _flow(_request: Request, exc: FlowServiceError) -> Response:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            error = FlowServiceError(
                f"No route matches {request.method} {request.url.path}.",
                code="1101",
                title="Resource not found",
                status=404,
            )
        elif exc.status_code == 405:
            error = FlowServiceError(
                f"The method {request.method} is not allowed on {request.url.path}.",
                code="1100",
                title="Method not allowed",
                status=405,
            )
        else:
            error = FlowServiceError(str(exc.detail), code="1100", title="Invalid request", status=exc.status_code)
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"Invalid value for '{where}': {first.get('msg', 'invalid')}."
        return error_response(FlowServiceError(message, code="1100", title="Invalid request", status=400))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Response:
        return unexpected_error(exc)


def unexpected_error(exc: Exception) -> Response:
    """A bug or an outage below us: logged with its traceback, answered with 500 and no details."""
    log.exception("unexpected error (request %s)", request_id_var.get(), exc_info=exc)
    return error_response(
        FlowServiceError(
            "An internal error has occurred. Please try again. If the problem persists, please contact "
            "customer support.",
            code="1102",
            title="Internal Error",
            status=500,
        )
    )
