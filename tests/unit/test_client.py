"""The API client (``flowservice/client.py``) on a recording transport: what it sends, how it pages, how it fails."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flowservice.client import ApiError, FlowServiceClient, Token, request_token
from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID, DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID

BASE = "/data/foundation/flowservice"
ORG = "UNIT0000000000000000000@AdobeOrg"


class Recorder:
    """A transport that remembers every request and answers with ``answer(request)``."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.seen: list[httpx.Request] = []
        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.answer(request)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.seen]


def created(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/dataSets"):
        return httpx.Response(201, json=["@/dataSets/ds-1"])
    return httpx.Response(201, json={"id": f"id-{request.url.path.rsplit('/', 1)[-1]}", "etag": '"1"'})


def client_on(answer: Callable[[httpx.Request], httpx.Response]) -> tuple[FlowServiceClient, Recorder]:
    recorder = Recorder(answer)
    http = httpx.Client(base_url="http://flowservice.test", transport=httpx.MockTransport(recorder), timeout=5)
    return FlowServiceClient(http, org=ORG, client_id="the-key", token="t0ken"), recorder


def test_every_call_carries_the_identity_headers_of_the_client() -> None:
    client, recorder = client_on(lambda _r: httpx.Response(200, json={"items": []}))
    client.call("GET", "/connections")
    headers = recorder.seen[0].headers
    assert headers["Authorization"] == "Bearer t0ken"
    assert headers["x-api-key"] == "the-key"
    assert headers["x-gw-ims-org-id"] == ORG
    assert headers["x-sandbox-name"] == "prod"
    assert headers["Content-Type"] == "application/json"


def test_an_override_of_none_leaves_a_header_out_and_others_replace_it() -> None:
    client, recorder = client_on(lambda _r: httpx.Response(200))
    client.get("/connections", header_overrides={"Authorization": None, "x-sandbox-name": "dev"})
    headers = recorder.seen[0].headers
    assert "Authorization" not in headers and headers["x-sandbox-name"] == "dev"


def test_paths_are_under_the_flow_service_base_unless_they_name_another_api() -> None:
    client, recorder = client_on(lambda _r: httpx.Response(200, json={}))
    client.call("GET", "/flows")
    client.call("GET", "/data/foundation/catalog/dataSets")
    client.call("GET", "/ims/organizations")
    assert [r.url.path for r in recorder.seen] == [
        f"{BASE}/flows",
        "/data/foundation/catalog/dataSets",
        "/ims/organizations",
    ]


def test_the_create_calls_send_the_documented_bodies_with_the_catalogue_spec_ids() -> None:
    client, recorder = client_on(created)
    connection = client.create_connection(
        "Dynamics Connection",
        description="connection for Dynamics account",
        auth_spec="Basic Authentication for Dynamics-Online",
        params={"serviceUri": "https://example.crm.dynamics.com", "username": "u", "password": "p"},
    )
    source = client.create_source_connection("accounts", base_connection_id=connection.id, table="account")
    dataset = client.create_dataset("accounts")
    target = client.create_target_connection("lake", dataset_id=dataset, write_mode="merge")
    schedule = {"startTime": "1", "frequency": "once"}
    copy = [{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}]
    client.create_flow(
        "flow", source_connection_id=source.id, target_connection_id=target.id, transformations=copy, schedule=schedule
    )
    assert (connection.id, connection.etag, dataset) == ("id-connections", '"1"', "ds-1")
    assert [r.url.path for r in recorder.seen] == [
        f"{BASE}/connections",
        f"{BASE}/sourceConnections",
        "/data/foundation/catalog/dataSets",
        f"{BASE}/targetConnections",
        f"{BASE}/flows",
    ]
    assert recorder.bodies() == [
        {
            "name": "Dynamics Connection",
            "description": "connection for Dynamics account",
            "auth": {
                "specName": "Basic Authentication for Dynamics-Online",
                "params": {"serviceUri": "https://example.crm.dynamics.com", "username": "u", "password": "p"},
            },
            "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
        },
        {
            "name": "accounts",
            "baseConnectionId": "id-connections",
            "data": {"format": "tabular"},
            "params": {"tableName": "account"},
            "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
        },
        {"name": "accounts"},
        {
            "name": "lake",
            "data": {"format": "delta"},
            "params": {"dataSetId": "ds-1", "writeMode": "merge"},
            "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
        },
        {
            "name": "flow",
            "flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID, "version": "1.0"},
            "sourceConnectionIds": ["id-sourceConnections"],
            "targetConnectionIds": ["id-targetConnections"],
            "transformations": copy,
            "scheduleParams": schedule,
        },
    ]


def test_listing_follows_the_continuation_token_and_keeps_the_query() -> None:
    pages = {
        None: {"items": [{"id": "a"}, {"id": "b"}], "_links": {"next": {"href": "/connections?continuationToken=T2"}}},
        "T2": {"items": [{"id": "c"}], "_links": {}},
    }
    client, recorder = client_on(lambda r: httpx.Response(200, json=pages[r.url.params.get("continuationToken")]))
    items = list(client.items("/connections", {"property": "name==x", "limit": "2"}))
    assert [i["id"] for i in items] == ["a", "b", "c"]
    assert [dict(r.url.params) for r in recorder.seen] == [
        {"property": "name==x", "limit": "2"},
        {"property": "name==x", "limit": "2", "continuationToken": "T2"},
    ]


def test_an_error_status_raises_one_line_with_method_path_status_and_the_flow_service_message() -> None:
    body = {"type": "https://ns.adobe.com/aep/errors/FLOW-1404-404", "errorMessage": "Connection x not found."}
    client, _ = client_on(lambda _r: httpx.Response(404, json=body))
    with pytest.raises(ApiError) as raised:
        client.call("GET", "/connections/x", params={"a": "b"})
    assert str(raised.value) == f"GET {BASE}/connections/x → 404: Connection x not found."
    assert raised.value.status_code == 404


def test_an_error_without_a_json_body_shows_its_text() -> None:
    client, _ = client_on(lambda _r: httpx.Response(502, text="bad gateway"))
    with pytest.raises(ApiError, match=r"→ 502: bad gateway$"):
        client.call("POST", "/runs", json={})


def test_a_token_is_asked_for_with_the_client_credentials_grant() -> None:
    recorder = Recorder(lambda _r: httpx.Response(200, json={"access_token": "abc", "expires_in": 86_400_000}))
    http = httpx.Client(base_url="http://flowservice.test", transport=httpx.MockTransport(recorder), timeout=5)
    assert request_token(http, "id", "secret", scope="openid") == Token("abc", 86_400_000)
    sent = recorder.seen[0]
    assert (sent.method, sent.url.path) == ("POST", "/ims/token/v3")
    form = dict(httpx.QueryParams(sent.content.decode()))
    assert form == {"grant_type": "client_credentials", "client_id": "id", "client_secret": "secret", "scope": "openid"}


def test_an_http_client_without_a_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout"):
        FlowServiceClient(httpx.Client(timeout=None), org=ORG, client_id="k", token="t")
    with pytest.raises(ValueError, match="timeout"):
        FlowServiceClient(httpx.Client(timeout=httpx.Timeout(5, read=None)), org=ORG, client_id="k", token="t")


def run_answer(statuses: list[str]) -> Callable[[httpx.Request], httpx.Response]:
    def answer(_request: httpx.Request) -> httpx.Response:
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        return httpx.Response(200, json={"items": [{"id": "r", "metrics": {"statusSummary": {"status": status}}}]})

    return answer


def test_waiting_for_a_run_polls_until_it_has_ended() -> None:
    client, recorder = client_on(run_answer(["queued", "inProgress", "success"]))
    run = client.wait_for_run("r", every=0)
    assert run["metrics"]["statusSummary"]["status"] == "success"
    assert [r.url.path for r in recorder.seen] == [f"{BASE}/runs/r"] * 3


def test_waiting_for_a_run_gives_up_at_its_timeout() -> None:
    client, _ = client_on(run_answer(["inProgress"]))
    with pytest.raises(TimeoutError, match="run r was not done"):
        client.wait_for_run("r", timeout=0, every=0)
