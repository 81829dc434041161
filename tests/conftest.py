"""Shared fixtures. Fixture modules live in ``tests/fixtures`` and are registered here.

PostgreSQL tests (marker ``postgres``) use the server at ``FLOWSERVICE_TEST_DATABASE_URL`` (CI provides one). When
none answers there and such tests are selected, the session starts a throwaway server (``tests/throwaway_postgres``)
and points the variable at it, for this process and the ones the tests start; it is removed at the end.
"""

from __future__ import annotations

import os

import pytest

from tests.throwaway_postgres import ThrowawayPostgres, answers

pytest_plugins = [
    "tests.fixtures.server",
    "tests.fixtures.emulator",
    "tests.fixtures.hostile",
    "tests.fixtures.s3_server",
]

DATABASE_URL = "FLOWSERVICE_TEST_DATABASE_URL"


def pytest_collection_finish(session: pytest.Session) -> None:
    if not any(item.get_closest_marker("postgres") for item in session.items):
        return
    from tests.fixtures.server import DEFAULT_PG  # imported once registered, so pytest rewrites its asserts

    url = os.environ.get(DATABASE_URL, DEFAULT_PG)
    if answers(url):
        return
    server = ThrowawayPostgres.start()
    session.config.add_cleanup(server.stop)
    os.environ[DATABASE_URL] = server.url(url.rpartition("/")[2] or "flowservice_test")
    terminal = session.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line(f"no PostgreSQL server answers at {url}: using a throwaway one, {os.environ[DATABASE_URL]}")
