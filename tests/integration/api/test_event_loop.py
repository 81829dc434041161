"""The event loop of a running server never waits on the database: a write that waits for SQLite's lock
waits in a thread, and everything else keeps being answered meanwhile."""

from __future__ import annotations

import sqlite3
import threading

import httpx

from tests.fixtures.server import LiveServer, seed_body


def test_health_is_answered_while_a_connection_create_waits_for_another_writer_on_the_file(
    live_server: LiveServer,
) -> None:
    api = live_server.client("LOOP00000000000000000000@AdobeOrg")
    other_writer = sqlite3.connect(live_server.data_dir / "flowservice.db", isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")  # holds the write lock, as another process would
    created: dict[str, httpx.Response] = {}
    poster = threading.Thread(target=lambda: created.update(response=api.post("/connections", json=seed_body())))
    try:
        poster.start()
        poster.join(timeout=1.0)
        assert poster.is_alive(), "the create should be waiting for the other writer"
        health = httpx.get(live_server.url + "/health", timeout=10)
        assert health.status_code == 200
        assert poster.is_alive()  # /health was answered while the insert still waited
    finally:
        other_writer.execute("ROLLBACK")
        other_writer.close()
    poster.join(timeout=30)
    assert created["response"].status_code == 201
    got = api.get(f"/connections/{created['response'].json()['id']}")
    assert got.status_code == 200
