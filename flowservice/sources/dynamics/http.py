"""The one place that talks HTTP to Dataverse, and so the one place that decides "retry or give up".

Retried: 429 (sleeping ``Retry-After``), 500/502/503/504, connect/read/write errors and timeouts (a reset in the
middle of a body included), and a body that does not parse (a truncated page) — each with a bounded number of
attempts and jittered exponential backoff. A 401 refreshes the token once. Everything else becomes one of the
``SourceError`` subclasses with Dataverse's own error code and message, so an operator can act on it.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import httpx
import orjson

from flowservice.domain.errors import (
    NotFound,
    SourceAuthError,
    SourceError,
    SourceRefused,
    SourceThrottled,
    SourceUnavailable,
)

from .limiter import AdaptiveLimiter
from .settings import DynamicsSettings
from .tls import certificate_problem, ssl_context
from .uri import AddressRefused, GuardedTransport, ServiceUri

log = logging.getLogger(__name__)

BASE_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "User-Agent": "flowservice-dynamics/0.1",
}
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
EXPIRED_VERSION_STAMP = "0x80044352"
#: Timeouts caused by the shape of the query: retrying the same query cannot help (``query-antipatterns.md``).
QUERY_SHAPE_TIMEOUTS = frozenset({"0x80048573", "0x80048574", "0x80048575", "0x80048644", "0x80048744"})


class TokenSource(Protocol):
    def token(self) -> str: ...

    def refresh(self) -> str: ...


class DeltaTokenExpired(SourceRefused):
    """Dataverse no longer knows the change-tracking version in a delta link: a full read is needed."""


def query_string(params: Mapping[str, str]) -> str:
    """OData query options encoded the way Microsoft's docs show them (``$`` and ``,`` kept, spaces ``%20``)."""
    return urlencode(params, quote_via=quote, safe="$,'()*:@/")


def error_details(response: httpx.Response) -> tuple[str, str]:
    """``(code, message)`` from a Dataverse error body ``{"error": {"code", "message"}}``, tolerant of others."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        text = response.text.strip().replace("\n", " ")
        return "", text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        inner = error.get("innererror")
        if not message and isinstance(inner, dict):
            message = str(inner.get("message") or "")
        return str(error.get("code") or ""), message
    return "", str(body)[:300]


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


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class DataverseHttp:
    """An ``httpx.Client`` for one organization: HTTP/1.1, keep-alive, the OData headers, retries."""

    def __init__(self, uri: ServiceUri, settings: DynamicsSettings, limiter: AdaptiveLimiter) -> None:
        self.uri = uri
        self.settings = settings
        self.limiter = limiter
        self.tokens: TokenSource | None = None
        transport = settings.transport or GuardedTransport(
            ssl_context(settings.ca_bundle),
            allow_private=settings.allow_private_addresses,
            resolver=settings.resolver,
            max_connections=settings.max_concurrency,
        )
        self._client = httpx.Client(
            transport=transport,
            headers=BASE_HEADERS,
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            follow_redirects=False,  # a redirect could lead anywhere; Dataverse does not redirect API calls
        )

    def url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        url = self.uri.api_root + path
        return f"{url}?{query_string(params)}" if params else url

    def challenge(self) -> httpx.Response:
        """An unauthenticated GET of the service root: Dataverse answers 401 with the Entra ID authority."""
        return self._send(self.uri.api_root, {}, authenticated=False)[0]

    def get(
        self, url: str, *, prefer: Sequence[str] = (), headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """GET ``url`` (used verbatim: nextLink and deltaLink are opaque) and return a 2xx response."""
        return self._send(url, _headers(prefer, headers), authenticated=True)[0]

    def get_json(
        self,
        url: str,
        *,
        prefer: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        prepare: Callable[[bytes], bytes] | None = None,
    ) -> tuple[Any, httpx.Response]:
        """GET and parse the JSON body (``prepare`` may rewrite the raw bytes first). A body that does not
        parse is a truncated transfer and is retried like a connection reset."""
        response, doc = self._send(url, _headers(prefer, headers), authenticated=True, parse=prepare or _same)
        return doc, response

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------------------------------- internals
    def _send(
        self,
        url: str,
        extra: dict[str, str],
        *,
        authenticated: bool,
        parse: Callable[[bytes], bytes] | None = None,
    ) -> tuple[httpx.Response, Any]:
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            headers = dict(extra)
            if authenticated:
                assert self.tokens is not None, "token source not set"
                headers["Authorization"] = f"Bearer {self.tokens.token()}"
            try:
                with self.limiter.slot():
                    response = self._client.get(url, headers=headers)
                doc = None
                if parse is not None and response.status_code < 300:
                    try:
                        doc = orjson.loads(parse(response.content))
                    except orjson.JSONDecodeError as exc:
                        raise httpx.RemoteProtocolError(f"truncated JSON body: {exc}") from None
            except AddressRefused as exc:
                raise SourceRefused(str(exc)) from None
            except httpx.TransportError as exc:
                problem = certificate_problem(exc)
                if problem:
                    raise SourceRefused(
                        f"The TLS certificate of {self.uri.origin} is not trusted ({problem}); an operator can add "
                        "its CA with the CA bundle setting"
                    ) from None
                if attempt > self.settings.max_retries:
                    raise SourceUnavailable(
                        f"Dataverse at {self.uri.origin} could not be reached after {attempt} attempts: "
                        f"{type(exc).__name__}: {exc}"
                    ) from None
                self._pause(attempt, None, f"{type(exc).__name__}: {exc}")
                continue
            status = response.status_code
            if status < 300:
                self.limiter.succeeded()
                return response, doc
            if status == 401:
                if not authenticated:
                    return response, None
                if not refreshed:
                    refreshed = True
                    assert self.tokens is not None
                    self.tokens.refresh()
                    attempt -= 1
                    continue
                raise SourceAuthError(f"Dataverse refused the access token even after a refresh. {describe(response)}")
            if status in RETRY_STATUSES:
                code, _ = error_details(response)
                if code in QUERY_SHAPE_TIMEOUTS:
                    raise SourceRefused(f"{describe(response)}. Select fewer columns or a smaller page size.")
                wait = retry_after_seconds(response)
                if status == 429:
                    self.limiter.throttled()
                if attempt > self.settings.max_retries or (wait or 0) > self.settings.max_retry_after:
                    error = SourceThrottled if status == 429 else SourceUnavailable
                    raise error(f"{describe(response)}; gave up after {attempt} attempts")
                self._pause(attempt, wait, describe(response))
                continue
            raise self._error(response)

    def _pause(self, attempt: int, retry_after: float | None, why: str) -> None:
        if retry_after is not None:
            delay = retry_after + random.uniform(0, min(1.0, 0.1 * retry_after))
        else:
            ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** (attempt - 1))
            delay = random.uniform(ceiling / 2, ceiling)
        log.warning("dataverse retry %d in %.1fs: %s", attempt, delay, why)
        self.settings.sleep(delay)

    def _error(self, response: httpx.Response) -> SourceError | NotFound:
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


def _headers(prefer: Sequence[str], headers: Mapping[str, str] | None) -> dict[str, str]:
    extra = dict(headers or {})
    if prefer:
        extra["Prefer"] = ",".join(prefer)
    return extra


def _same(body: bytes) -> bytes:
    return body
