"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.fixtures.server import postgres_server


@pytest.fixture
def database() -> Iterator[str]:
    """An empty PostgreSQL database of the test's own (the stack's server migrates it), dropped after."""
    base = postgres_server()
    name = f"flowservice_e2e_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{base}/{name}"
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
