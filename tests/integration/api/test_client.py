"""The API client (``flowservice/client.py``) against the real app: in-process over SQLite with the working fake
source, a real ``flowservice serve`` process, and an HTTPS server with its own CA."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flowservice.client import ApiError, FlowServiceClient, open_http, request_token
from flowservice.domain.catalogue import DYNAMICS_SPEC_ID
from flowservice.settings import Settings
from tests.fakes.source import FakeOrg
from tests.fixtures.hostile import HostileServer, json_answer, slow_drip
from tests.fixtures.server import Api, LiveServer, make_api

CREDS = {"username": "someone@contoso.com", "password": "s3cret-Pa55"}
PARAMS = {"serviceUri": "https://example.crm.dynamics.com", **CREDS}
TOKEN = json.dumps({"access_token": "from-the-tls-server", "token_type": "bearer", "expires_in": 1000}).encode()


@pytest.fixture
def fake_api(tmp_path: Path) -> Iterator[tuple[Api, FakeOrg]]:
    org = FakeOrg()
    api = make_api(Settings(data_dir=tmp_path / "data", commit_every_rows=25, page_size=10), sources=org)
    yield api, org
    assert api.container is not None
    api.container.close()


def test_a_flow_built_with_the_client_calls_runs_and_the_client_waits_for_its_end(
    fake_api: tuple[Api, FakeOrg],
) -> None:
    api, org = fake_api
    org.add_table("account", rows=40)
    connection = api.create_connection(
        "fake org", auth_spec="Basic Authentication for Dynamics-Online", params={"serviceUri": "https://x", **CREDS}
    )
    source = api.create_source_connection("accounts", base_connection_id=connection.id, table="account")
    dataset = api.create_dataset("accounts", description="accounts from the fake org")
    target = api.create_target_connection("lake", dataset_id=dataset, write_mode="merge")
    flow = api.create_flow(
        "accounts",
        source_connection_id=source.id,
        target_connection_id=target.id,
        transformations=[{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}],
        schedule={"startTime": str(int(time.time()) + 3600), "frequency": "hour", "interval": "1"},
    )
    run_id = api.start_run(flow.id)
    assert api.container is not None and api.container.worker().run_once()

    run = api.wait_for_run(run_id, timeout=30)
    assert run["flowId"] == flow.id
    assert run["metrics"]["statusSummary"]["status"] == "success"
    assert run["metrics"]["recordSummary"]["outputRecordCount"] == 40
    assert api.item(f"/flows/{flow.id}")["targetConnectionIds"] == [target.id]
    assert api.item(f"/connections/{connection.id}")["connectionSpec"]["id"] == DYNAMICS_SPEC_ID


def test_listing_with_the_client_yields_every_item_once_across_pages(fake_api: tuple[Api, FakeOrg]) -> None:
    api, _ = fake_api
    made = [
        api.create_connection(f"c{i}", auth_spec="Basic Authentication for Dynamics-Online", params=PARAMS).id
        for i in range(7)
    ]
    everything = [item["id"] for item in api.items("/connections", {"limit": "100"})]
    paged = [item["id"] for item in api.items("/connections", {"limit": "3"})]
    assert sorted(paged) == sorted(made) and paged == everything
    named = [item["name"] for item in api.items("/connections", {"property": "name!=c3", "limit": "2"})]
    assert sorted(named) == [f"c{i}" for i in range(7) if i != 3]


def test_an_unknown_resource_raises_an_api_error_with_the_servers_message(fake_api: tuple[Api, FakeOrg]) -> None:
    api, _ = fake_api
    with pytest.raises(ApiError, match=r"GET /data/foundation/flowservice/flows/nope → 404: .*nope") as raised:
        api.item("/flows/nope")
    assert raised.value.response.json()["type"].endswith("-404")


def test_login_gets_a_token_from_a_real_server_and_its_calls_are_accepted(live_server: LiveServer) -> None:
    org = "CLIENTLOGIN00000000000000@AdobeOrg"
    creds = json.loads(live_server.cli("clients", "create", "--org", org, "--name", "client-test"))
    client = FlowServiceClient.login(
        live_server.url, org=org, client_id=creds["client_id"], client_secret=creds["client_secret"], timeout=10
    )
    try:
        created = client.create_connection("live", auth_spec="Basic Authentication for Dynamics-Online", params=PARAMS)
        assert [c["id"] for c in client.items("/connections")] == [created.id]
        assert client.item(f"/connections/{created.id}")["auth"]["params"]["password"] != CREDS["password"]
    finally:
        client.close()


def test_tls_is_verified_against_the_given_ca_bundle_and_never_skipped(hostile_server: HostileServer) -> None:
    hostile_server.route("/ims/token/v3", json_answer("200 OK", TOKEN))
    with open_http(hostile_server.origin, timeout=10, ca_bundle=hostile_server.ca_file) as http:
        assert request_token(http, "id", "secret").access_token == "from-the-tls-server"
    with open_http(hostile_server.origin, timeout=10) as http, pytest.raises(httpx.ConnectError, match="CERTIFICATE"):
        request_token(http, "id", "secret")


def test_a_server_that_does_not_answer_makes_the_call_time_out(hostile_server: HostileServer) -> None:
    hostile_server.route("/ims/token/v3", slow_drip("200 OK", {}, total=10, every=30))
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        FlowServiceClient.login(
            hostile_server.origin,
            org="O@AdobeOrg",
            client_id="id",
            client_secret="secret",
            timeout=0.5,
            ca_bundle=hostile_server.ca_file,
        )
    assert time.monotonic() - started < 10
