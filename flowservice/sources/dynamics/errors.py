"""What a failed Dataverse answer says: its error code and message (never a remote body quoted as it is), a
description for the run's error, and the ``SourceError`` it becomes."""

from __future__ import annotations

import httpx
import orjson

from flowservice.domain.errors import NotFound, SourceAuthError, SourceError, SourceRefused

EXPIRED_VERSION_STAMP = "0x80044352"
#: Timeouts caused by the shape of the query: retrying the same query cannot help (``query-antipatterns.md``).
QUERY_SHAPE_TIMEOUTS = frozenset({"0x80048573", "0x80048574", "0x80048575", "0x80048644", "0x80048744"})


class DeltaTokenExpired(SourceRefused):
    """Dataverse no longer knows the change-tracking version in a delta link: a full read is needed."""


def error_details(response: httpx.Response) -> tuple[str, str]:
    """``(code, message)`` from a Dataverse error body ``{"error": {"code", "message"}}``. Any other body is
    described by its size and type, never quoted: a remote body is not ours to reflect."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        inner = error.get("innererror")
        if not message and isinstance(inner, dict):
            message = str(inner.get("message") or "")
        return _printable(str(error.get("code") or ""), 40), _printable(message, 300)
    if not response.content:
        return "", ""
    kind = _printable(response.headers.get("Content-Type", "").split(";")[0], 60) or "untyped"
    return "", f"not a Dataverse error body ({len(response.content):,} bytes of {kind})"


def _printable(text: str, limit: int) -> str:
    cleaned = "".join(c if c.isprintable() else " " for c in text).strip()
    return cleaned[:limit] + ("…" if len(cleaned) > limit else "")


def describe(response: httpx.Response) -> str:
    code, message = error_details(response)
    request_id = response.headers.get("x-ms-service-request-id")
    text = f"Dataverse answered {response.status_code}"
    if code:
        text += f" {code}"
    if message:
        text += f": {message}"
    if request_id:
        text += f" (request id {request_id})"
    return text


def error_for(response: httpx.Response) -> SourceError | NotFound:
    """The ``SourceError`` (or ``NotFound``) of a failed answer that is not retried."""
    status = response.status_code
    code, _ = error_details(response)
    text = describe(response)
    if code == EXPIRED_VERSION_STAMP or "version stamp associated with the client has expired" in text.lower():
        return DeltaTokenExpired(text)
    if status == 403:
        return SourceAuthError(f"The Dynamics user lacks a privilege. {text}")
    if status == 404:
        return NotFound(text)
    return SourceRefused(text)
