"""A partitioned first load against a real server, killed (SIGKILL) in the middle of its key ranges and
restarted: the run resumes from its composite cursor and the dataset ends exactly the source, and the next run
is an ordinary incremental one from the delta link."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowservice.demo import ORG
from flowservice.domain.tenancy import Tenant
from tests.e2e.stack import Stack, change_rows, iso, server_env, source_rows


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    emulator = start_emulator(scale=6000, seed=5, latency=100, random_guids=True)
    env = server_env(
        emulator,
        FLOWSERVICE_RUN_STALE_SECONDS="2",
        FLOWSERVICE_COMMIT_EVERY_ROWS="300",
        FLOWSERVICE_DYNAMICS_PARTITION_MIN_ROWS="500",
        FLOWSERVICE_DYNAMICS_PARTITION_BELOW_ROWS_PER_SECOND="0",
        FLOWSERVICE_DYNAMICS_PARTITION_PAGE_ROWS="100",
        FLOWSERVICE_DYNAMICS_PARTITION_CONCURRENCY="4",
    )
    stack = Stack(emulator, tmp_path / "server", env)
    stack.start()
    yield stack
    stack.stop()


def last_cursor(stack: Stack, flow: dict[str, str]) -> dict[str, Any] | None:
    """The source cursor of the flow's last commit, read from the lake the server writes."""
    from flowservice.bootstrap import build
    from flowservice.settings import Settings

    container = build(Settings(data_dir=stack.data_dir))
    try:
        path = container.catalog.dataset(Tenant(ORG, "prod"), flow["dataset"]).doc["lake"]["path"]
        last = container.lake.last_commit(path, flow["flow"])
        return None if last is None else dict(last.cursor.get("source") or {})
    finally:
        container.close()


def wait_for_a_partitioned_commit(stack: Stack, flow: dict[str, str], after: Any = None) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        cursor = last_cursor(stack, flow)
        if cursor and cursor.get("mode") == "partitioned" and cursor != after:
            return cursor
        time.sleep(0.1)
    raise AssertionError("no commit of the partitioned read landed within 60 s")


def assert_merge_equals_source(stack: Stack, flow: dict[str, str]) -> None:
    source = source_rows(stack.emulator, "accounts", "accountid")
    landed = {r["accountid"]: iso(r["modifiedon"]) for r in stack.dataset_rows(flow)}
    assert len(landed) == len(source)
    assert landed == {k: iso(v) for k, v in source.items()}


def test_a_partitioned_load_killed_twice_mid_read_resumes_and_lands_exactly_the_source(stack: Stack) -> None:
    flow = stack.flow(stack.connection(), "account", "merge")
    run_id = stack.trigger(flow)
    first = wait_for_a_partitioned_commit(stack, flow)
    stack.kill()
    stack.start()  # the embedded worker resumes the run once its claim goes stale
    wait_for_a_partitioned_commit(stack, flow, after=first)
    stack.kill()
    stack.start()
    run = stack.wait(run_id)
    assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
    assert_merge_equals_source(stack, flow)
    final = last_cursor(stack, flow)
    assert final is not None and final["mode"] == "changes" and final.get("delta_link")
    change_rows(stack.emulator, "accounts", "accountid", created=40, updated=300, deleted=15, seed=3)
    again = stack.wait(stack.trigger(flow))
    assert again["metrics"]["statusSummary"]["status"] == "success", again["metrics"]["statusSummary"]
    assert again["metrics"]["recordSummary"]["inputRecordCount"] < 1000, "an incremental read, not a new load"
    assert_merge_equals_source(stack, flow)
