"""``POST /ims/token/v3`` under abuse: failure budgets, equal cost for unknown ids, a capped body, and a
server that keeps answering others while wrong secrets flood it."""

from __future__ import annotations

import collections
import hashlib
import select
import socket
import threading
import urllib.parse

import pytest

from bench._flood import flood_token_endpoint
from tests.fixtures.server import Api, LiveServer, seed_body

WRONG = {"grant_type": "client_credentials", "client_secret": "not-the-secret"}


def test_the_sixth_wrong_secret_in_a_window_gets_429_with_retry_after(api: Api) -> None:
    statuses = [
        api.http.post("/ims/token/v3", data={**WRONG, "client_id": api.client_id}).status_code for _ in range(5)
    ]
    assert statuses == [401] * 5
    refused = api.http.post("/ims/token/v3", data={**WRONG, "client_id": api.client_id})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    body = refused.json()
    assert body["type"].endswith("-429") and body["status"] == 429
    assert "not-the-secret" not in refused.text
    # the client stays locked out for the window, even with its real secret
    locked = api.http.post(
        "/ims/token/v3", data={**WRONG, "client_id": api.client_id, "client_secret": api.client_secret}
    )
    assert locked.status_code == 429


def test_an_unknown_client_id_costs_the_same_scrypt_as_a_known_one(api: Api, monkeypatch) -> None:
    calls: list[int] = []
    scrypt = hashlib.scrypt

    def counting_scrypt(*args, **kwargs):
        calls.append(1)
        return scrypt(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting_scrypt)  # flowservice.store.identity hashes with it
    known = api.http.post("/ims/token/v3", data={**WRONG, "client_id": api.client_id})
    known_hashes = len(calls)
    unknown = api.http.post("/ims/token/v3", data={**WRONG, "client_id": "no-such-client"})
    assert known.status_code == unknown.status_code == 401
    assert known.json()["errorMessage"] == unknown.json()["errorMessage"]
    assert known_hashes == 1 and len(calls) == 2


def _raw_token_post(url: str, *, chunked: bool, total: int) -> tuple[int, int]:
    """Send a ``total``-byte form body to the token endpoint over a raw socket, 64 KiB at a time, until the
    server answers; return (status, bytes of body sent by then)."""
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock.sendall(
        (
            f"POST /ims/token/v3 HTTP/1.1\r\nHost: {parts.hostname}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n{framing}\r\n\r\n"
        ).encode()
    )
    chunk = b"a" * (64 * 1024)
    sent = 0
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0.01)
            if readable:
                break
            frame = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
            sock.sendall(frame)
            sent += len(chunk)
        head = sock.recv(4096).decode("latin-1")
    except (BrokenPipeError, ConnectionResetError):
        head = sock.recv(4096).decode("latin-1")
    finally:
        sock.close()
    return int(head.split(" ", 2)[1]), sent


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_300_mb_token_request_is_refused_with_413_long_before_it_is_read(
    live_server: LiveServer, chunked: bool
) -> None:
    status, sent = _raw_token_post(live_server.url, chunked=chunked, total=300 * 1024 * 1024)
    assert status == 413
    # what the server read is at most 64 KiB; the rest of what was sent sits in socket buffers
    assert sent < 16 * 1024 * 1024


def test_authenticated_gets_stay_served_while_wrong_secrets_flood_the_token_endpoint(live_server: LiveServer) -> None:
    api = live_server.client("FLOOD0000000000000000000@AdobeOrg")
    created = api.post("/connections", json=seed_body())
    assert created.status_code == 201
    connection_id = created.json()["id"]
    stop = threading.Event()
    statuses: collections.Counter[int] = collections.Counter()
    flood = threading.Thread(
        target=flood_token_endpoint,
        args=(live_server.url, stop),
        kwargs={"client_id": api.client_id, "threads": 4, "statuses": statuses},
    )
    flood.start()
    try:
        while sum(statuses.values()) < 20 and flood.is_alive():  # the flood is under way
            stop.wait(0.05)
        answers = [api.get(f"/connections/{connection_id}") for _ in range(50)]
        during = sum(statuses.values())
    finally:
        stop.set()
        flood.join()
    assert [a.status_code for a in answers] == [200] * 50
    assert all(a.json()["items"][0]["id"] == connection_id for a in answers)
    assert during >= 20
    # five failures spend the client's budget; everything after is refused before any hash is computed
    assert statuses.get(401, 0) <= 5 and statuses.get(429, 0) > 0
    assert set(statuses) <= {401, 429}


def test_a_multipart_token_request_is_still_read_within_the_cap(api: Api) -> None:
    fields = {"grant_type": "client_credentials", "client_id": api.client_id, "client_secret": api.client_secret}
    response = api.http.post("/ims/token/v3", files={k: (None, v) for k, v in fields.items()})
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"
