"""The lane (``flowservice/api/lane.py``) answers the busiest routes before FastAPI; it must answer exactly as
the FastAPI routes do. Every case here is sent to the app and to its FastAPI stack alone, on SQLite and
PostgreSQL, and the answers compared. The lane is a middleware: a middleware added after it sees its answers."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowservice.api.app import create_app
from flowservice.api.lane import Lane
from tests.fixtures.server import BASE, Api, seed_body

VOLATILE = re.compile(
    r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|"(createdAt|updatedAt)":\d+|"request-id":"[^"]*"'
)


def served_by(api: Api, app: FastAPI) -> Api:
    """The same caller (org, client, token), sent to ``app``."""
    return api.with_http(TestClient(app, raise_server_exceptions=False))


def routed(api: Api) -> Api:
    """The same API, served by FastAPI's own stack without the lane in front."""
    assert api.container is not None
    app = create_app(api.container)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not Lane]  # type: ignore[comparison-overlap]
    return served_by(api, app)


def routed_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every request FastAPI's router sees from now on (the lane answers before it)."""
    seen: list[str] = []
    original = Router.__call__

    async def counting(self: Router, scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(f"{scope['method']} {scope['path']}")
        await original(self, scope, receive, send)

    monkeypatch.setattr(Router, "__call__", counting)
    return seen


def comparable(response: httpx.Response) -> tuple[int, dict[str, str], str]:
    headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "x-request-id", "location")}
    if "location" in response.headers:
        headers["location"] = VOLATILE.sub("<id>", response.headers["location"])
    return response.status_code, headers, VOLATILE.sub("<v>", response.text)


def both(api: Api, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
    return api.request(method, path, **kwargs), routed(api).request(method, path, **kwargs)


READS = [
    ("an existing connection", "/connections/{id}", {}),
    ("a trailing slash", "/connections/{id}/", {}),
    ("an unknown id", "/connections/00000000-0000-0000-0000-000000000000", {}),
    ("an unknown id of another collection", "/flows/00000000-0000-0000-0000-000000000000", {}),
    ("no token", "/connections/{id}", {"header_overrides": {"Authorization": None}}),
    ("a malformed token", "/connections/{id}", {"header_overrides": {"Authorization": "Bearer nope"}}),
    ("another client's api key", "/connections/{id}", {"header_overrides": {"x-api-key": "someone-else"}}),
    ("another org", "/connections/{id}", {"header_overrides": {"x-gw-ims-org-id": "OTHER@AdobeOrg"}}),
    ("no sandbox", "/connections/{id}", {"header_overrides": {"x-sandbox-name": None}}),
    ("an unknown sandbox", "/connections/{id}", {"header_overrides": {"x-sandbox-name": "nowhere"}}),
]


@pytest.mark.parametrize(("case", "path", "kwargs"), READS, ids=[r[0] for r in READS])
def test_a_read_through_the_lane_answers_as_the_fastapi_route_does(
    any_api: Api, case: str, path: str, kwargs: dict[str, Any]
) -> None:
    created = any_api.post("/connections", json=seed_body()).json()
    lane, fastapi = both(any_api, "GET", path.format(id=created["id"]), **kwargs)
    assert comparable(lane) == comparable(fastapi), case
    assert lane.headers["x-request-id"] and fastapi.headers["x-request-id"]


def _bad_params() -> dict[str, Any]:
    body = seed_body()
    body["auth"]["params"]["serviceUri"] = 42
    return body


def _draft_body() -> dict[str, Any]:
    body = seed_body()
    del body["auth"]["params"]["password"]  # a draft need not be complete
    return body


WRITES = [
    ("the seed body", {"json": seed_body()}),
    ("a trailing slash", {"json": seed_body(), "path": "/connections/"}),
    ("another content type", {"content": b"{}", "headers": {"Content-Type": "text/plain"}}),
    ("malformed JSON", {"content": b"{nope"}),
    ("an empty body", {"content": b""}),
    ("an oversized body", {"content": b'{"name":"' + b"x" * (1024 * 1024 + 10) + b'"}'}),
    ("a parameter of the wrong type", {"json": _bad_params()}),
    ("an unknown connection spec", {"json": {**seed_body(), "connectionSpec": {"id": "nope"}}}),
    ("no token", {"json": seed_body(), "header_overrides": {"Authorization": None}}),
    ("a draft", {"json": _draft_body(), "params": {"mode": "draft"}}),
    ("a draft with a parameter of the wrong type", {"json": _bad_params(), "params": {"mode": "draft"}}),
    ("a draft with malformed JSON", {"content": b"{nope", "params": {"mode": "draft"}}),
    ("an unknown mode", {"json": seed_body(), "params": {"mode": "nope"}}),
]


@pytest.mark.parametrize(("case", "kwargs"), WRITES, ids=[w[0] for w in WRITES])
def test_a_create_through_the_lane_answers_as_the_fastapi_route_does(
    any_api: Api, case: str, kwargs: dict[str, Any]
) -> None:
    path = kwargs.pop("path", "/connections")
    lane, fastapi = both(any_api, "POST", path, **kwargs)
    assert comparable(lane) == comparable(fastapi), case
    if lane.status_code == 201:
        assert lane.headers["location"] == f"{BASE}/connections/{lane.json()['id']}"


def test_the_caller_s_request_id_is_echoed_by_the_lane(any_api: Api) -> None:
    created = any_api.post("/connections", json=seed_body()).json()
    response = any_api.get(f"/connections/{created['id']}", headers={"x-request-id": "trace-me"})
    missing = any_api.get("/connections/nope", headers={"x-request-id": "trace-missing"})
    assert response.headers["x-request-id"] == "trace-me"
    assert missing.headers["x-request-id"] == "trace-missing"
    assert missing.json()["report"]["request-id"] == "trace-missing"


def test_reads_and_creates_skip_fastapi_while_other_routes_go_through_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = routed_requests(monkeypatch)
    created = api.post("/connections", json=seed_body()).json()
    assert api.get(f"/connections/{created['id']}").status_code == 200
    assert seen == []
    assert api.get("/connections").status_code == 200
    assert seen == [f"GET {BASE}/connections"]


def test_a_draft_create_goes_on_to_the_fastapi_route_and_is_stored_as_a_draft(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = routed_requests(monkeypatch)
    created = api.post("/connections", json=_draft_body(), params={"mode": "draft"})
    assert created.status_code == 201, created.text
    assert seen == [f"POST {BASE}/connections"]
    assert api.get(f"/connections/{created.json()['id']}").json()["items"][0]["state"] == "draft"
    assert api.post("/connections", json=seed_body()).status_code == 201
    assert seen == [f"POST {BASE}/connections"]  # the plain create stays on the lane


class Recording:
    """A pure ASGI middleware, as sessions, CORS or tracing would be: it notes each request and its status."""

    def __init__(self, app: ASGIApp, *, seen: list[tuple[str, int]]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((f"{scope['method']} {scope['path']}", message["status"]))
            await send(message)

        await self.app(scope, receive, noting)


def test_a_middleware_added_after_create_app_wraps_the_reads_and_creates_the_lane_answers(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.container is not None
    app = create_app(api.container)
    wrapped: list[tuple[str, int]] = []
    app.add_middleware(Recording, seen=wrapped)
    client = served_by(api, app)
    routed = routed_requests(monkeypatch)
    created = client.post("/connections", json=seed_body())
    path = f"{BASE}/connections/{created.json()['id']}"
    assert client.get(path).status_code == 200
    assert client.get("/connections/nope").status_code == 404
    assert wrapped == [(f"POST {BASE}/connections", 201), (f"GET {path}", 200), (f"GET {BASE}/connections/nope", 404)]
    assert routed == []  # the lane answered all three, inside the later middleware
    assert client.get("/connections").status_code == 200
    assert wrapped[-1] == (f"GET {BASE}/connections", 200)
    assert routed == [f"GET {BASE}/connections"]


REPEATED = [
    ("the same value twice", lambda value, other: value),
    ("another value second", lambda value, other: other),
]
OTHER_VALUES = {
    "Authorization": "Bearer nope",
    "x-api-key": "someone-else",
    "x-gw-ims-org-id": "OTHER@AdobeOrg",
    "x-sandbox-name": "nowhere",
}


@pytest.mark.parametrize("header", list(OTHER_VALUES))
@pytest.mark.parametrize(("case", "second"), REPEATED, ids=[r[0] for r in REPEATED])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_repeated_identity_header_is_refused_by_the_lane_as_by_the_fastapi_route(
    any_api: Api, header: str, case: str, second: Any, method: str
) -> None:
    created = any_api.post("/connections", json=seed_body()).json()
    path = f"{BASE}/connections/{created['id']}" if method == "GET" else f"{BASE}/connections"
    headers = list(any_api.headers().items())
    repeated = [*headers, (header, second(dict(headers)[header], OTHER_VALUES[header]))]
    kwargs: dict[str, Any] = {"headers": repeated}
    if method == "POST":
        kwargs["json"] = seed_body()
    lane = any_api.http.request(method, path, **kwargs)
    fastapi = routed(any_api).http.request(method, path, **kwargs)
    assert comparable(lane) == comparable(fastapi), case
    assert lane.status_code == 400
    assert f"'{header.lower()}' is sent more than once" in lane.json()["errorMessage"]
