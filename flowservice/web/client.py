"""The UI's client of the public API: async httpx calls with the same headers a curl user sends.

In-process by default (``httpx.ASGITransport`` over the serving app: the full request path, lane, middleware,
auth and errors, without a socket), or plain HTTP to ``FLOWSERVICE_UI_API_URL``. Every call is recorded
(method, path, status, milliseconds) for the page's *API calls* drawer, which renders each as a curl command
with ``$ACCESS_TOKEN`` in place of the token and secrets redacted.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.types import ASGIApp

FLOW = "/data/foundation/flowservice"
SANDBOXES = "/data/foundation/sandbox-management/"
TOKEN = "/ims/token/v3"
TIMEOUT = httpx.Timeout(120.0, connect=10.0)
"""Explore of a large org or a slow source can take a while; every call is still bounded."""
_SECRET_KEYS = frozenset({"password", "client_secret", "clientsecret", "serviceprincipalkey", "secret", "token"})

Json = Any
"""A JSON value as the API answers it."""
Params = Sequence[tuple[str, str]] | Mapping[str, str]


@dataclass(frozen=True)
class Session:
    """Who the UI calls the API as: a token from ``/ims/token/v3``, its client id (``x-api-key``) and org."""

    token: str
    client_id: str
    org: str


@dataclass
class ApiCall:
    method: str
    path: str
    """With its query string."""
    status: int
    ms: float
    headers: dict[str, str]
    """The identity headers, with ``$ACCESS_TOKEN`` for the token."""
    body: str | None = None
    form: bool = False

    def curl(self, base_url: str) -> str:
        parts = ["curl", "-X", self.method, shlex.quote(base_url.rstrip("/") + self.path)]
        for name, value in self.headers.items():
            quoted = f'"{name}: {value}"' if "$" in value else shlex.quote(f"{name}: {value}")
            parts += ["-H", quoted]
        if self.body is not None:
            parts += ["--data-urlencode" if self.form else "-d", shlex.quote(self.body)]
        return " ".join(parts)


class ApiProblem(Exception):
    """An answer of 400 or more, with the Flow Service error body's fields."""

    def __init__(self, call: ApiCall, body: Json) -> None:
        self.call = call
        self.status = call.status
        doc = body if isinstance(body, dict) else {}
        found = doc.get("report")
        report: dict[str, Any] = found if isinstance(found, dict) else {}
        kind = str(doc.get("type") or "")
        self.code = kind.rsplit("/", 1)[-1] if "/FLOW-" in kind else ""
        """The Flow Service code, ``FLOW-NNNN-SSS``."""
        self.title = str(doc.get("title") or f"HTTP {call.status}")
        self.message = str(doc.get("errorMessage") or doc.get("detail") or "")
        self.request_id = str(report.get("request-id") or "")
        super().__init__(f"{call.method} {call.path} → {call.status}: {self.message}")

    @classmethod
    def local(cls, status: int, message: str, title: str = "Not found") -> ApiProblem:
        """A problem the UI finds itself, before calling the API (an impossible sandbox name)."""
        return cls(ApiCall("GET", "", status, 0.0, {}), {"title": title, "errorMessage": message})


def redact(value: Json) -> Json:
    """``value`` with every secret-looking field replaced, for the curl shown in the drawer."""
    if isinstance(value, dict):
        return {k: "<secret>" if k.lower() in _SECRET_KEYS else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


@dataclass
class ApiClient:
    """One page's calls: ``calls`` lists them in order for the drawer."""

    http: httpx.AsyncClient
    public_url: str
    """The API's address as a curl user reaches it."""
    session: Session | None = None
    sandbox: str = "prod"
    calls: list[ApiCall] = field(default_factory=list)

    def headers(self) -> dict[str, str]:
        assert self.session is not None
        return {
            "Authorization": f"Bearer {self.session.token}",
            "x-api-key": self.session.client_id,
            "x-gw-ims-org-id": self.session.org,
            "x-sandbox-name": self.sandbox,
        }

    async def request(
        self, method: str, path: str, *, params: Params | None = None, json_body: Json = None, etag: str | None = None
    ) -> httpx.Response:
        headers = self.headers()
        shown = {**headers, "Authorization": "Bearer $ACCESS_TOKEN"}
        body = None
        if json_body is not None:
            headers["Content-Type"] = shown["Content-Type"] = "application/json"
            body = json.dumps(json_body)
        if etag is not None:
            headers["If-Match"] = shown["If-Match"] = etag
        query = urlencode(list(params.items()) if isinstance(params, Mapping) else list(params or []))
        target = path + ("?" + query if query else "")
        started = time.perf_counter()
        response = await self.http.request(method, target, headers=headers, content=body)
        shown_body = json.dumps(redact(json_body)) if json_body is not None else None
        self.calls.append(ApiCall(method, target, response.status_code, _ms(started), shown, shown_body))
        return response

    async def call(
        self, method: str, path: str, *, params: Params | None = None, json_body: Json = None, etag: str | None = None
    ) -> Json:
        """The JSON answer; ``ApiProblem`` for an error status."""
        response = await self.request(method, path, params=params, json_body=json_body, etag=etag)
        return answer(response, self.calls[-1])

    async def token(self, client_id: str, client_secret: str) -> Json:
        """``POST /ims/token/v3`` (client credentials): the secret goes to the API and nowhere else."""
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        started = time.perf_counter()
        response = await self.http.post(TOKEN, data=form)
        shown = "grant_type=client_credentials&client_id=" + client_id + "&client_secret=$CLIENT_SECRET"
        call = ApiCall("POST", TOKEN, response.status_code, _ms(started), {}, shown, form=True)
        self.calls.append(call)
        return answer(response, call)


def answer(response: httpx.Response, call: ApiCall) -> Json:
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = {"errorMessage": response.text[:500]}
    if response.status_code >= 400:
        raise ApiProblem(call, body)
    return body


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def open_http(app: ASGIApp, api_url: str | None) -> httpx.AsyncClient:
    """In-process over ``app`` unless ``api_url`` names another API."""
    if api_url:
        return httpx.AsyncClient(base_url=api_url, timeout=TIMEOUT)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://flowservice.internal", timeout=TIMEOUT
    )
