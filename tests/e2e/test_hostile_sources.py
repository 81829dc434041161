"""Through a running ``flowservice serve``: one tenant's slow-drip ``serviceUri`` cannot stall other routes or
tenants, and a source call whose client went away stops reading its source. The slow source is the hostile
HTTPS server of ``tests/fixtures/hostile.py``; assertions are on events (who answered while what was still
open), never on durations."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import wait_for
from tests.fixtures.hostile import API_ROOT, HostileServer, challenge_header, slow_drip
from tests.fixtures.server import Api, LiveServer, seed_body, start_server, stop_server

PER_TENANT = 4
FLOOD = 45  # more than the 40 threads every sync route of every tenant shares


@pytest.fixture
def dripping(hostile_server: HostileServer) -> HostileServer:
    """Its 401 challenge announces 600 bytes and sends one every half second: five minutes per request."""
    hostile_server.route(
        API_ROOT,
        slow_drip("401 Unauthorized", {"WWW-Authenticate": challenge_header(hostile_server)}, total=600, every=0.5),
    )
    return hostile_server


@pytest.fixture
def server(tmp_path: Path, dripping: HostileServer) -> Iterator[LiveServer]:
    live = start_server(
        tmp_path / "data",
        env={
            "FLOWSERVICE_DYNAMICS_ALLOW_PRIVATE_ADDRESSES": "true",
            "FLOWSERVICE_DYNAMICS_CA_BUNDLE": str(dripping.ca_file),
            "FLOWSERVICE_SOURCE_CALLS_PER_TENANT": str(PER_TENANT),
            "FLOWSERVICE_SOURCE_CALL_DEADLINE_SECONDS": "600",
        },
    )
    yield live
    stop_server(live)


def connection(api: Api, uri: str) -> tuple[str, str]:
    created = api.post("/connections", json=seed_body(service_uri=uri))
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["etag"]


def test_slow_sources_of_one_tenant_leave_other_tenants_and_sync_routes_answering(server, dripping):
    a = server.client("SLOWDRIP000000000000000@AdobeOrg")
    b = server.client("BYSTANDER00000000000000@AdobeOrg")
    slow_id, _ = connection(a, dripping.origin)
    b_id, b_etag = connection(b, "https://example.crm.dynamics.com")
    answers: list[httpx.Response] = []

    def slow_test() -> None:
        with httpx.Client(base_url=server.url, timeout=600) as http:
            try:
                answers.append(
                    http.get(f"/data/foundation/flowservice/connections/{slow_id}/test", headers=a.headers())
                )
            except httpx.HTTPError:
                pass  # the server stops at the end of the test while the admitted calls still drip

    flood = [threading.Thread(target=slow_test, daemon=True) for _ in range(FLOOD)]
    for thread in flood:
        thread.start()
    wait_for(
        lambda: dripping.open_connections >= PER_TENANT and len(answers) >= FLOOD - PER_TENANT,
        "the dripping server holding its tenant's connections while the others are answered",
        timeout=60,
    )
    refused = list(answers)
    assert len(refused) == FLOOD - PER_TENANT
    assert all(r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 for r in refused)
    assert "limit is 4" in refused[0].json()["errorMessage"]

    # a sync route (PATCH runs on the shared thread pool) of another tenant answers while the drips go on
    patched = b.patch(
        f"/connections/{b_id}",
        headers={"If-Match": b_etag},
        json=[{"op": "replace", "path": "/name", "value": "still answering"}],
    )
    assert patched.status_code == 200, patched.text
    assert b.get(f"/connections/{b_id}").status_code == 200
    assert dripping.open_connections >= PER_TENANT and len(answers) == FLOOD - PER_TENANT  # still dripping
    # the same tenant's other routes are not blocked either
    assert a.get(f"/connections/{slow_id}").status_code == 200


def test_a_source_call_whose_client_went_away_stops_reading_its_source(server, dripping):
    a = server.client("GONEAWAY000000000000000@AdobeOrg")
    slow_id, _ = connection(a, dripping.origin)
    host, port = server.url.removeprefix("http://").split(":")
    headers = "".join(f"{k}: {v}\r\n" for k, v in a.headers().items() if k != "Content-Type")
    with socket.create_connection((host, int(port))) as client:
        client.sendall(
            f"GET /data/foundation/flowservice/connections/{slow_id}/test HTTP/1.1\r\nHost: {host}\r\n"
            f"{headers}\r\n".encode()
        )
        wait_for(lambda: dripping.open_connections >= 1, "a connection to the dripping server", timeout=60)
        # the client leaves without waiting for the answer (a closed tab, a killed script)
    assert dripping.peer_gone.wait(30), "flowservice kept reading the source after its client went away"
    assert dripping.sent_to(API_ROOT) < 600
