"""End to end on object storage: ``flowservice serve`` with its lake in a real S3 bucket (SeaweedFS) lands an
emulated Dynamics org's tables (merge: in full, then incrementally with deletes; append: in full), and each
dataset equals its source table exactly (row count and checksum). The server checks the store's conditional
put as it starts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.e2e.stack import Stack, change_rows, iso, server_env, source_rows
from tests.fixtures.s3_server import S3Server


def checksum(pairs: dict[str, str]) -> str:
    return hashlib.sha256(repr(sorted(pairs.items())).encode()).hexdigest()


def landed(stack: Stack, flow: dict[str, str], key: str) -> dict[str, str]:
    rows = stack.dataset_rows(flow)
    assert len(rows) == len({r[key] for r in rows}), "a key landed twice"
    return {r[key]: iso(r["modifiedon"]) for r in rows}


def expected(emulator, entity_set: str, key: str) -> dict[str, str]:
    return {k: iso(v) for k, v in source_rows(emulator, entity_set, key).items()}


def test_a_server_with_its_lake_on_s3_lands_datasets_equal_to_their_source_tables(
    start_emulator, s3_server: S3Server, s3_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = start_emulator(scale=800, seed=41)
    lake_env = s3_server.env(s3_prefix)
    stack = Stack(emulator, tmp_path / "server", server_env(emulator, FLOWSERVICE_PAGE_SIZE="200", **lake_env))
    for name, value in lake_env.items():  # the test's own reads of the datasets (Stack.dataset_rows) use them too
        monkeypatch.setenv(name, value)
    stack.start()
    try:
        connection = stack.connection()
        accounts = stack.flow(connection, "account", "merge")
        run = stack.wait(stack.trigger(accounts))
        assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
        first = expected(emulator, "accounts", "accountid")
        assert len(first) == 800
        assert checksum(landed(stack, accounts, "accountid")) == checksum(first)

        change_rows(emulator, "accounts", "accountid", created=25, updated=40, deleted=15, seed=3)
        run = stack.wait(stack.trigger(accounts))
        assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
        now = expected(emulator, "accounts", "accountid")
        assert len(now) == 810
        assert checksum(landed(stack, accounts, "accountid")) == checksum(now)

        contacts = stack.flow(connection, "contact", "append")
        run = stack.wait(stack.trigger(contacts))
        assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
        source_contacts = expected(emulator, "contacts", "contactid")
        assert checksum(landed(stack, contacts, "contactid")) == checksum(source_contacts)  # no version twice

        keys = s3_server.keys(f"{s3_prefix}/")
        assert any("/_delta_log/" in k for k in keys) and any(k.endswith(".parquet") for k in keys)
    finally:
        stack.stop()
    assert stack.server is not None
    assert s3_server.secret_key not in stack.server.log_path.read_text()
