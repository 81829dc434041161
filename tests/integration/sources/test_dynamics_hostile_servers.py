"""A hostile ``serviceUri`` (a real HTTPS server on 127.0.0.1, ``tests/fixtures/hostile.py``) cannot make the
source hold memory, time or requests it should not: bodies are bounded by decoded bytes, every call by a total
deadline, and MSAL's federated sign-in goes through the same address guard and quotes nothing it was told.
Assertions are on bytes and events, never on time."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from flowservice.domain import deadlines
from flowservice.domain.deadlines import Cancelled, DeadlineExceeded
from flowservice.domain.errors import SourceError, SourceRefused, SourceUnavailable
from flowservice.sources.dynamics import DynamicsSettings, DynamicsSource, clear_caches
from flowservice.sources.net.bodies import ResponseTooLarge
from tests.fixtures.hostile import (
    API_ROOT,
    TENANT,
    HostileServer,
    challenge_header,
    endless,
    gzip_bomb,
    json_answer,
    serve_entra,
    slow_drip,
)

SECRET_MARKER = "INTERNAL-SECRET-7f3a"


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def settings_for(server: HostileServer, **overrides: Any) -> DynamicsSettings:
    values: dict[str, Any] = {
        "authority_hosts_extra": (server.authority_host,),
        "ca_bundle": str(server.ca_file),
        "allow_private_addresses": True,
        "max_retries": 1,
        "backoff_base": 0.01,
        "backoff_cap": 0.02,
    }
    values.update(overrides)
    return DynamicsSettings(**values)


def source_for(server: HostileServer, **overrides: Any) -> DynamicsSource:
    params = {"serviceUri": server.origin, "username": "ada@contoso.example", "password": "pw-Secret-1"}
    return DynamicsSource(params, auth_kind="basic", settings=settings_for(server, **overrides))


def challenge(server: HostileServer) -> None:
    server.route(API_ROOT, json_answer("401 Unauthorized", b"", {"WWW-Authenticate": challenge_header(server)}))


# ------------------------------------------------------------------------------------------------ item 8
def test_a_gzip_bomb_in_the_401_challenge_is_refused_without_inflating_it(hostile_server):
    server = hostile_server
    server.route(
        API_ROOT, gzip_bomb("401 Unauthorized", {"WWW-Authenticate": challenge_header(server)}, megabytes_compressed=64)
    )  # about 64 GiB once inflated
    source = source_for(server)
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge, match=r"exceeds the limit of 65,536 decompressed \(gzip\) bytes"):
            source.check()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak:,} bytes allocated while refusing the bomb"
    assert server.peer_gone.wait(10)
    assert server.sent_to(API_ROOT) < 32 * 2**20  # of 64 MiB compressed: the client stopped reading early


def test_a_gzip_bomb_from_the_token_endpoint_is_refused_within_the_auth_limit(hostile_server):
    server = hostile_server
    challenge(server)
    serve_entra(server, token=gzip_bomb("200 OK", {"Content-Type": "application/json"}, megabytes_compressed=64))
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge, match="exceeds the limit of 1,048,576"):
            source_for(server).check()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20
    assert server.sent_to(f"/{TENANT}/oauth2/v2.0/token") < 32 * 2**20


def test_an_endless_metadata_answer_is_refused_at_the_metadata_limit(hostile_server):
    server = hostile_server
    challenge(server)
    serve_entra(server)
    server.route(API_ROOT + "EntityDefinitions", endless("200 OK", {"Content-Type": "application/json"}))
    source = source_for(server, max_metadata_bytes=2**20)
    with pytest.raises(ResponseTooLarge, match="exceeds the limit of 1,048,576 bytes"):
        list(source.list_tables())
    assert server.peer_gone.wait(10)


def test_a_body_longer_than_its_limit_is_refused_before_it_is_read_when_its_length_is_announced(hostile_server):
    server = hostile_server
    challenge(server)
    serve_entra(server)
    server.route(
        API_ROOT + "WhoAmI",
        slow_drip("200 OK", {"Content-Type": "application/json"}, total=10 * 2**20, every=0.5, step=1024),
    )
    with pytest.raises(ResponseTooLarge, match="exceeds the limit of 4,096 bytes"):
        source_for(server, max_metadata_bytes=4096).check()
    assert server.sent_to(API_ROOT + "WhoAmI") < 64 * 1024


# ------------------------------------------------------------------------------------------------ item 9
def test_a_slow_drip_trips_the_call_deadline_although_no_single_read_times_out(hostile_server):
    server = hostile_server
    total = 2000  # bytes, one every 20 ms: 40 s in all, each read well within its 5 s timeout
    server.route(
        API_ROOT, slow_drip("401 Unauthorized", {"WWW-Authenticate": challenge_header(server)}, total=total, every=0.02)
    )
    with pytest.raises(DeadlineExceeded, match="deadline of 1 s"):
        source_for(server, read_timeout=5.0, call_deadline_seconds=1.0).check()
    assert server.peer_gone.wait(10)
    assert server.sent_to(API_ROOT) < total


def test_a_token_endpoint_that_drips_trips_the_token_deadline(hostile_server):
    server = hostile_server
    challenge(server)
    serve_entra(server, token=slow_drip("200 OK", {"Content-Type": "application/json"}, total=2000, every=0.02))
    with pytest.raises(DeadlineExceeded, match="Entra ID"):
        source_for(server, read_timeout=5.0, token_deadline_seconds=1.0).check()
    assert server.sent_to(f"/{TENANT}/oauth2/v2.0/token") < 2000


def test_a_cancelled_operation_stops_reading_a_drip_at_once_and_closes_its_connection(hostile_server):
    server = hostile_server
    server.route(
        API_ROOT, slow_drip("401 Unauthorized", {"WWW-Authenticate": challenge_header(server)}, total=600, every=0.5)
    )  # five minutes of drip, each read within its timeout
    source = source_for(server)

    def cancel_when_connected() -> None:
        while server.requests_to(API_ROOT) == 0 and not stop.is_set():
            stop.wait(0.01)
        operation.cancel()

    stop = threading.Event()
    with deadlines.within(300, "The test of a dripping org") as operation:
        canceller = threading.Thread(target=cancel_when_connected)
        canceller.start()
        try:
            with pytest.raises(Cancelled):
                source.check()
        finally:
            stop.set()
            canceller.join()
    assert server.peer_gone.wait(10)
    assert server.sent_to(API_ROOT) < 600


def test_a_retry_after_beyond_the_limit_fails_at_once_instead_of_waiting(hostile_server):
    server = hostile_server
    challenge(server)
    serve_entra(server)
    server.route(
        API_ROOT + "WhoAmI",
        json_answer("429 Too Many Requests", b'{"error":{"code":"0x80072322"}}', {"Retry-After": "100000"}),
    )
    with pytest.raises(SourceError, match="Retry-After of 100000 s exceeds the limit of 120 s"):
        source_for(server).check()
    assert server.requests_to(API_ROOT + "WhoAmI") == 1


# ----------------------------------------------------------------------------------------------- item 10
def federated(server: HostileServer, active_auth_url: str) -> None:
    challenge(server)
    serve_entra(
        server,
        realm={
            "ver": "1.0",
            "account_type": "Federated",
            "federation_protocol": "WSTrust",
            "domain_name": "contoso.example",
            "federation_active_auth_url": active_auth_url,
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        },
    )


@pytest.mark.parametrize("target", ["169.254.169.254", "[fd00:ec2::254]", "[2002:a9fe:a9fe::]"])
def test_a_federated_sign_in_steered_to_a_metadata_address_is_refused_by_the_address_guard(hostile_server, target):
    federated(hostile_server, f"https://{target}/adfs/services/trust/13/usernamemixed")
    with pytest.raises(SourceRefused, match=r"sign-in through Entra ID was sent to .*which is refused"):
        source_for(hostile_server, connect_timeout=2.0).check()


def test_a_federated_sign_in_never_quotes_the_identity_providers_answer(hostile_server):
    server = hostile_server
    federated(server, f"{server.origin}/adfs/services/trust/13/usernamemixed")
    fault = (
        f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><leak>{SECRET_MARKER}'
        "</leak></s:Body></s:Envelope>"
    ).encode()
    server.route(
        "/adfs/services/trust/13/usernamemixed",
        json_answer("500 Internal Server Error", fault, {"Content-Type": "application/soap+xml"}),
    )
    with pytest.raises(SourceUnavailable) as caught:
        source_for(server).check()
    assert server.requests_to("/adfs/services/trust/13/usernamemixed") == 1  # MSAL did ask it
    assert SECRET_MARKER not in caught.value.message
    assert "federated sign-in" in caught.value.message


def test_a_federated_sign_in_answer_that_is_not_xml_is_a_clear_error_not_a_crash(hostile_server):
    server = hostile_server
    federated(server, f"{server.origin}/adfs/services/trust/13/usernamemixed")
    server.route(
        "/adfs/services/trust/13/usernamemixed",
        json_answer("200 OK", f"<html>{SECRET_MARKER}".encode(), {"Content-Type": "text/html"}),
    )
    with pytest.raises(SourceUnavailable) as caught:
        source_for(server).check()
    assert SECRET_MARKER not in caught.value.message


def test_an_error_body_that_is_not_dataverse_json_is_described_not_quoted(hostile_server):
    server = hostile_server
    challenge(server)
    serve_entra(server)
    server.route(
        API_ROOT + "WhoAmI",
        json_answer("403 Forbidden", f"<html>{SECRET_MARKER}</html>".encode(), {"Content-Type": "text/html"}),
    )
    with pytest.raises(SourceError) as caught:
        source_for(server).check()
    assert SECRET_MARKER not in caught.value.message
    assert "not a Dataverse error body" in caught.value.message
