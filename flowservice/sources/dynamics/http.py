"""The one place that talks HTTP to Dataverse, and so the one place that decides "retry or give up".

Retried: 429 (sleeping ``Retry-After``), 500/502/503/504, connect/read/write errors and timeouts (a reset in the
middle of a body included), and a body that does not parse (a truncated page) — each with a bounded number of
attempts and jittered exponential backoff (the shared policy of :mod:`flowservice.sources.net.retry`). A 401
refreshes the token once. Everything else becomes one of the ``SourceError`` subclasses with Dataverse's own
error code and message, so an operator can act on it.
"""

from __future__ import annotations

import http.cookiejar
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any, Protocol

import httpx
import orjson
import pyarrow as pa

from flowservice.domain import deadlines
from flowservice.domain.errors import (
    SourceAuthError,
    SourceError,
    SourceRefused,
    SourceThrottled,
    SourceUnavailable,
)
from flowservice.sources.net import observe
from flowservice.sources.net.bodies import ACCEPT_ENCODING, ResponseTooLarge, detached, read_buffer, read_limited
from flowservice.sources.net.guard import AddressRefused
from flowservice.sources.net.limiter import AdaptiveLimiter
from flowservice.sources.net.retry import RETRY_STATUSES, retry_after_seconds
from flowservice.sources.net.tls import certificate_problem

from . import batch_get
from .errors import QUERY_SHAPE_TIMEOUTS, describe, error_details, error_for
from .settings import DynamicsSettings
from .uri import ServiceUri, guarded_transport

log = logging.getLogger(__name__)

BASE_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "User-Agent": "flowservice-dynamics/0.1",
    "Accept-Encoding": ACCEPT_ENCODING,
}
#: A response and, for a 2xx answer whose body is parsed, that body apart from it (see ``_receive``).
Received = tuple[httpx.Response, pa.Buffer | None]


class TokenSource(Protocol):
    def token(self) -> str: ...

    def refresh(self) -> str: ...


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Keep no cookie: Dataverse's only one is the ARR affinity cookie, which sticks every request to one web
    server and so to one server's share of the user's budget (reference §4.5: drop it to spread requests)."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class ThrottleStats:
    """429s answered to this client and the seconds its calls waited before retrying them (run metrics)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.seconds = 0.0

    def add(self, seconds: float) -> None:
        with self._lock:
            self.requests += 1
            self.seconds += seconds

    def totals(self) -> tuple[int, float]:
        with self._lock:
            return self.requests, self.seconds


#: What ``query_string`` leaves as it is: ``quote``'s always-safe characters and the ones OData's examples keep.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.~\-$,'()*:@/]+")


def _quoted(text: str) -> str:
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


def query_string(params: Mapping[str, str]) -> str:
    """OData query options encoded the way Microsoft's docs show them (``$`` and ``,`` kept, spaces ``%20``):
    ``urlencode(params, quote_via=quote, safe="$,'()*:@/")``, by a regular expression that touches only what
    needs escaping (a filter on 600 file ids is 24 KB, and ``quote`` looks up every character of it)."""
    return "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in params.items())


class DataverseHttp:
    """An ``httpx.Client`` for one organization: HTTP/1.1, keep-alive, the OData headers, retries."""

    def __init__(self, uri: ServiceUri, settings: DynamicsSettings, limiter: AdaptiveLimiter) -> None:
        self.uri = uri
        self.settings = settings
        self.limiter = limiter
        self.retry = settings.retry_policy
        self.tokens: TokenSource | None = None
        self.throttling = ThrottleStats()
        transport = settings.transport or guarded_transport(  # +1: a partitioned read's key scan
            settings, max(settings.max_concurrency, settings.partition_concurrency) + 1
        )
        cookies = None if settings.keep_affinity_cookie else http.cookiejar.CookieJar(policy=_NoCookies())
        self._client = httpx.Client(
            transport=transport,
            headers=BASE_HEADERS,
            cookies=cookies,
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            follow_redirects=False,  # a redirect could lead anywhere; Dataverse does not redirect API calls
        )

    def url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        url = self.uri.api_root + path
        return f"{url}?{query_string(params)}" if params else url

    def challenge(self) -> httpx.Response:
        """An unauthenticated GET of the service root: Dataverse answers 401 with the Entra ID authority."""
        return self._send(self.uri.api_root, {}, authenticated=False, limit=self.settings.max_error_bytes)[0]

    def get(
        self,
        url: str,
        *,
        prefer: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> httpx.Response:
        """GET ``url`` (used verbatim: nextLink and deltaLink are opaque) and return a 2xx response whose body
        is at most ``limit`` decoded bytes (default: the metadata limit)."""
        limit = limit or self.settings.max_metadata_bytes
        return self._send(url, _headers(prefer, headers), authenticated=True, limit=limit)[0]

    def get_json(
        self,
        url: str,
        *,
        prefer: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        prepare: Callable[[bytes], bytes] | None = None,
        decode: Callable[[pa.Buffer], Any] | None = None,
        first: Callable[[], Received] | None = None,
        limit: int | None = None,
        limited: bool = True,
    ) -> tuple[Any, httpx.Response]:
        """GET and parse the JSON body: ``decode(body)`` (the body as an Arrow buffer, see ``_receive``) or
        ``orjson.loads(prepare(body))``. A body that does not parse (``orjson.JSONDecodeError``) is a truncated
        transfer and is retried like a connection reset.

        ``first`` stands in for the first attempt's request: a response fetched ahead (or the error fetching
        it raised), handled exactly like one fetched now — statuses, retries and all. ``limit`` bounds the
        decoded body (default: the metadata limit; pages pass the page limit). ``limited=False`` sends it
        outside the connection's limiter (a partitioned read's key scan, one request at a time, which the
        partitions' requests must not starve); its 429s still tell the limiter.
        """
        if decode is None:
            decode = _loader(prepare)
        response, doc = self._send(
            url,
            _headers(prefer, headers),
            authenticated=True,
            parse=decode,
            first=first,
            limit=limit or self.settings.max_metadata_bytes,
            limited=limited,
        )
        return doc, response

    def fetch(self, url: str, *, prefer: Sequence[str] = (), headers: Mapping[str, str] | None = None) -> Received:
        """One authenticated GET of ``url``, whatever its status, without retries: a request made ahead of its
        time (see ``get_json(first=...)``). Transport errors propagate."""
        extra = _headers(prefer, headers)
        assert self.tokens is not None, "token source not set"
        with deadlines.within(self.settings.call_deadline_seconds, f"A page read from {self.uri.origin}"):
            extra["Authorization"] = f"Bearer {self.tokens.token()}"
            with self.limiter.slot(self):
                return self._observed(url, extra, buffered=True, limit=self.settings.max_page_bytes)

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------------------------------- internals
    def _send(
        self,
        url: str,
        extra: dict[str, str],
        *,
        authenticated: bool,
        limit: int,
        parse: Callable[[pa.Buffer], Any] | None = None,
        first: Callable[[], Received] | None = None,
        limited: bool = True,
    ) -> tuple[httpx.Response, Any]:
        """One call, retries included, within ``call_deadline_seconds`` (or the operation's deadline when it
        ends sooner) and at most ``max_retry_wait_seconds`` of waiting between attempts."""
        what = f"The Dataverse call to {self.uri.origin}"
        with deadlines.within(self.settings.call_deadline_seconds, what) as deadline:
            return self._attempts(url, extra, authenticated, limit, parse, first, deadline, limited)

    def _attempts(
        self,
        url: str,
        extra: dict[str, str],
        authenticated: bool,
        limit: int,
        parse: Callable[[pa.Buffer], Any] | None,
        first: Callable[[], Received] | None,
        deadline: deadlines.Deadline,
        limited: bool = True,
    ) -> tuple[httpx.Response, Any]:
        attempt = 0
        refreshed = False
        waited = 0.0
        while True:
            attempt += 1
            deadline.check()
            headers = dict(extra)
            if authenticated:
                assert self.tokens is not None, "token source not set"
                headers["Authorization"] = f"Bearer {self.tokens.token()}"
            try:
                if first is not None:
                    ahead, first = first, None
                    response, body = ahead()  # read ahead: reported by the thread that sent it
                else:
                    with self.limiter.slot(self) if limited else nullcontext():
                        response, body = self._observed(url, headers, buffered=parse is not None, limit=limit)
                doc = None
                if parse is not None and body is not None:
                    try:
                        doc = parse(body)
                    except orjson.JSONDecodeError as exc:
                        raise httpx.RemoteProtocolError(f"truncated JSON body: {exc}") from None
            except AddressRefused as exc:
                raise SourceRefused(str(exc)) from None
            except httpx.DecodingError:
                raise ResponseTooLarge(
                    f"Dataverse at {self.uri.origin} answered a body that does not decode as announced"
                ) from None
            except httpx.TransportError as exc:
                problem = certificate_problem(exc)
                if problem:
                    raise SourceRefused(
                        f"The TLS certificate of {self.uri.origin} is not trusted ({problem}); an operator can add "
                        "its CA with the CA bundle setting"
                    ) from None
                if self.retry.exhausted(attempt):
                    raise SourceUnavailable(
                        f"Dataverse at {self.uri.origin} could not be reached after {attempt} attempts: "
                        f"{type(exc).__name__}"
                    ) from None
                waited += self._pause(attempt, None, f"{type(exc).__name__}: {exc}", waited, deadline)
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
                error = SourceThrottled if status == 429 else SourceUnavailable
                if self.retry.exhausted(attempt):
                    raise error(f"{describe(response)}; gave up after {attempt} attempts")
                if self.retry.too_long(wait):
                    raise error(
                        f"{describe(response)}; its Retry-After of {wait:.0f} s exceeds the limit of "
                        f"{self.retry.max_retry_after:g} s"
                    )
                paused = self._pause(attempt, wait, describe(response), waited, deadline, error)
                waited += paused
                if status == 429:
                    self.throttling.add(paused)
                continue
            raise error_for(response)

    def _observed(self, url: str, headers: dict[str, str], *, buffered: bool, limit: int) -> Received:
        """``_receive``, reported to the operator's metrics (``net.observe``) with its status and latency."""
        sent = time.monotonic()
        try:
            received = self._receive(url, headers, buffered=buffered, limit=limit)
        except httpx.TransportError:
            observe.request("dynamics", "error", time.monotonic() - sent)
            raise
        observe.request("dynamics", str(received[0].status_code), time.monotonic() - sent)
        return received

    def _receive(self, url: str, headers: dict[str, str], *, buffered: bool, limit: int) -> Received:
        """GET ``url``. With ``buffered``, a 2xx body is read into an Arrow buffer and returned beside the
        response; otherwise, and for any other status, it is read into ``response.content``. Bodies are read
        within ``limit`` decoded bytes (any other status: ``max_error_bytes``), see :mod:`.bodies`.

        Pages are megabytes each. Held by Python (``bytes``, plus a second copy while httpx joins the chunks),
        each lands in the C allocator's heap of the thread that reads it, which keeps the freed space for later,
        so a process reading ahead in a thread would keep several pages' worth for good. An Arrow buffer of the
        exact size (``Content-Length``) comes from Arrow's pool instead, which hands memory back when asked, and
        the decoder reads it without a copy. The response handed back is detached from the connection, so
        nothing keeps a page alive once the reader lets go of it.
        """
        deadline = deadlines.current()
        read = self.settings.read_timeout
        connect = self.settings.connect_timeout
        if deadline is not None:
            read, connect = deadline.timeout(read), deadline.timeout(connect)
        timeout = httpx.Timeout(read, connect=connect)
        if batch_get.needs_batch(url):
            batch = batch_get.Batch(self._client, self.uri.api_root, self.uri.origin, self.settings.max_error_bytes)
            return batch.receive(url, headers, timeout, buffered=buffered, limit=limit)
        request = self._client.build_request("GET", url, headers=headers, timeout=timeout)
        response = self._client.send(request, stream=True)
        body: pa.Buffer | None = None
        try:
            if buffered and response.is_success:
                body = read_buffer(response, limit)
                content = b""
            else:
                content = read_limited(response, limit if response.is_success else self.settings.max_error_bytes)
        finally:
            response.close()
        return detached(response, content), body

    def _pause(
        self,
        attempt: int,
        retry_after: float | None,
        why: str,
        waited: float,
        deadline: deadlines.Deadline,
        error: type[SourceError] = SourceUnavailable,
    ) -> float:
        delay = self.retry.delay(attempt, retry_after, why, waited, error)
        log.warning("dataverse retry %d in %.1fs: %s", attempt, delay, why)
        if self.settings.sleep is not None:
            self.settings.sleep(delay)
        else:
            deadline.sleep(delay)
        return delay


def _headers(prefer: Sequence[str], headers: Mapping[str, str] | None) -> dict[str, str]:
    extra = dict(headers or {})
    if prefer:
        extra["Prefer"] = ",".join(prefer)
    return extra


def _loader(prepare: Callable[[bytes], bytes] | None) -> Callable[[pa.Buffer], Any]:
    if prepare is None:
        return lambda body: orjson.loads(memoryview(body))
    return lambda body: orjson.loads(prepare(body.to_pybytes()))
