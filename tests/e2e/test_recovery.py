"""Exactly once against a real org and a real server: injected faults, and the server killed mid-run."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stack, change_rows, iso, server_env, source_rows


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    emulator = start_emulator(scale=3000, seed=11, latency=40)
    env = server_env(
        emulator, FLOWSERVICE_RUN_STALE_SECONDS="2", FLOWSERVICE_COMMIT_EVERY_ROWS="300", FLOWSERVICE_PAGE_SIZE="100"
    )
    stack = Stack(emulator, tmp_path / "server", env)
    stack.start()
    yield stack
    stack.stop()


def assert_merge_equals_source(stack: Stack, flow: dict[str, str]) -> None:
    source = source_rows(stack.emulator, "accounts", "accountid")
    landed = {r["accountid"]: iso(r["modifiedon"]) for r in stack.dataset_rows(flow)}
    assert len(landed) == len(source)
    assert landed == {k: iso(v) for k, v in source.items()}


def assert_append_has_every_version_once(stack: Stack, flow: dict[str, str]) -> None:
    rows = stack.dataset_rows(flow)
    versions = [(r["contactid"], iso(r["modifiedon"]) if r["modifiedon"] else None, r["_change_type"]) for r in rows]
    assert len(versions) == len(set(versions)), "a version landed twice"
    latest: dict[str, tuple] = {}
    for r in sorted(rows, key=lambda r: r["_change_time"]):
        latest[r["contactid"]] = (r["_change_type"], iso(r["modifiedon"]) if r["modifiedon"] else None)
    alive = {k: v[1] for k, v in latest.items() if v[0] == "upsert"}
    source = source_rows(stack.emulator, "contacts", "contactid")
    assert alive == {k: iso(v) for k, v in source.items()}


def test_runs_absorb_throttling_outages_resets_and_token_expiry_with_exact_data(stack: Stack) -> None:
    connection = stack.connection()
    flow = stack.flow(connection, "account", "merge")
    stack.emulator.set_faults(
        [
            {"kind": "throttle", "table": "accounts", "nth": 2, "count": 2, "retry_after": 1},
            {"kind": "unavailable", "table": "accounts", "nth": 5, "count": 1},
            {"kind": "reset", "table": "accounts", "nth": 7, "count": 1, "after_bytes": 4000},
            {"kind": "token_expiry", "table": "accounts", "nth": 9, "count": 1},
        ]
    )
    run = stack.wait(stack.trigger(flow))
    assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
    fired = {rule["kind"]: rule["fired"] for rule in stack.emulator.set_faults([], append=True)}
    assert fired == {"throttle": 2, "unavailable": 1, "reset": 1, "token_expiry": 1}
    assert_merge_equals_source(stack, flow)


def test_killing_the_server_mid_run_five_times_never_loses_or_repeats_a_record(stack: Stack) -> None:
    connection = stack.connection()
    accounts = stack.flow(connection, "account", "merge")
    contacts = stack.flow(connection, "contact", "append")
    rng = random.Random(2026)
    interrupted = 0
    for round_ in range(5):
        if round_:
            change_rows(stack.emulator, "accounts", "accountid", created=60, updated=900, deleted=20, seed=round_)
            change_rows(stack.emulator, "contacts", "contactid", created=60, updated=900, deleted=20, seed=round_)
        runs = [stack.trigger(accounts), stack.trigger(contacts)]
        time.sleep(rng.uniform(0.2, 1.0))
        assert stack.api is not None
        states = [stack.api.call("GET", f"/runs/{r}")["items"][0]["metrics"]["statusSummary"]["status"] for r in runs]
        interrupted += sum(state not in ("success", "failed") for state in states)
        stack.kill()
        stack.start()  # the embedded worker resumes the runs once their claims go stale
        for run_id in runs:
            run = stack.wait(run_id)
            assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
        assert_merge_equals_source(stack, accounts)
        assert_append_has_every_version_once(stack, contacts)
    assert interrupted >= 5, f"only {interrupted} of 10 runs were caught mid-way by the kill"
