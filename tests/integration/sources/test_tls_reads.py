"""Reads of a guarded connection over real TLS: every record the socket holds is taken at once, none is waited for.

Against the hostile look-alike server (``tests/fixtures/hostile.py``): a real HTTPS server on 127.0.0.1.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from flowservice.sources.net import guard
from flowservice.sources.net.tls import ssl_context
from tests.fixtures.hostile import Exchange, HostileServer, Request

RECORD = 16 * 1024  # the most plaintext one TLS record carries
BODY = bytes(range(256)) * (2 * 1024 * 1024 // 256)  # 2 MiB: 128 records and more


def client(server: HostileServer) -> httpx.Client:
    transport = guard.GuardedTransport(
        ssl_context(str(server.ca_file)), guard.AddressPolicy(allow_private=True), max_connections=1
    )
    return httpx.Client(transport=transport, timeout=30)


@pytest.fixture
def read_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every read a guarded connection returns to HTTP/1.1."""
    sizes: list[int] = []
    taken = guard._DeadlineStream._with_ready

    def spy(self: Any, data: bytes, max_bytes: int) -> bytes:
        out = taken(self, data, max_bytes)
        sizes.append(len(out))
        return out

    monkeypatch.setattr(guard._DeadlineStream, "_with_ready", spy)
    return sizes


def test_a_large_body_arrives_whole_in_reads_of_many_tls_records_each(hostile_server, read_sizes):
    def whole(request: Request, exchange: Exchange) -> None:
        if exchange.head("200 OK", {"Content-Type": "application/octet-stream", "Content-Length": str(len(BODY))}):
            exchange.send(BODY)
            exchange.wait(5)  # until the client has read it and left

    hostile_server.route("/big", whole)
    with client(hostile_server) as http:
        body = http.get(f"{hostile_server.origin}/big").content
    assert body == BODY
    assert max(read_sizes) > 4 * RECORD  # several records in one read
    assert max(read_sizes) <= guard.READ_BYTES


def test_a_read_returns_what_has_arrived_without_waiting_for_more(hostile_server, read_sizes):
    first_read = threading.Event()
    rest_waited_for_the_client = threading.Event()

    def in_two_parts(request: Request, exchange: Exchange) -> None:
        half = len(BODY) // 16
        if exchange.head("200 OK", {"Content-Length": str(len(BODY))}) and exchange.send(BODY[:half]):
            # the rest only once the client has returned a read: a read that waited to fill itself would
            # still be waiting when this gives up
            if first_read.wait(10):
                rest_waited_for_the_client.set()
            exchange.send(BODY[half:])
            exchange.wait(5)

    hostile_server.route("/parts", in_two_parts)
    received = bytearray()
    with client(hostile_server) as http, http.stream("GET", f"{hostile_server.origin}/parts") as response:
        for chunk in response.iter_raw():
            received += chunk
            first_read.set()
    assert rest_waited_for_the_client.is_set()
    assert bytes(received) == BODY
