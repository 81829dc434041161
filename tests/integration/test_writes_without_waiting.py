"""The lane's writes on the event loop: ``writes_must_not_wait`` makes a resource insert either land at once or
refuse with ``WriteWouldWait`` having written nothing, so that the caller can do it again in a thread."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from flowservice.domain.tenancy import Tenant
from flowservice.ports import WriteWouldWait, writes_must_not_wait
from flowservice.store.db import make_engine, migrate, writing
from flowservice.store.resources import SqlResources
from flowservice.store.vault import Vault

TENANT = Tenant("NOWAIT000000000000000000@AdobeOrg", "prod")


@pytest.fixture
def resources(tmp_path: Path) -> SqlResources:
    engine = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    migrate(engine)
    return SqlResources(engine, Vault(b"k" * 32))


def add_without_waiting(resources: SqlResources, id: str) -> None:
    token = writes_must_not_wait.set(True)
    try:
        resources.add("connections", TENANT, id, {"name": id}, {})
    finally:
        writes_must_not_wait.reset(token)


def test_an_insert_that_need_not_wait_lands_at_once(resources: SqlResources) -> None:
    add_without_waiting(resources, "free")
    assert resources.get("connections", TENANT, "free") is not None


def test_an_insert_refuses_to_wait_for_another_processs_write_lock_and_writes_nothing(
    resources: SqlResources, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "meta.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the file's write lock, as another process holds it
    try:
        with pytest.raises(WriteWouldWait):
            add_without_waiting(resources, "locked")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert resources.get("connections", TENANT, "locked") is None
    resources.add("connections", TENANT, "later", {"name": "later"}, {})  # the connection waits again as usual
    assert resources.get("connections", TENANT, "later") is not None


def test_an_insert_refuses_to_wait_for_a_writer_of_this_process(resources: SqlResources) -> None:
    with writing(resources._engine), pytest.raises(WriteWouldWait):
        add_without_waiting(resources, "busy")
    assert resources.get("connections", TENANT, "busy") is None
