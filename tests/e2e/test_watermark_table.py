"""The custom table without change tracking (``cr6f1_project``), read by ``modifiedon`` with an inclusive
lower bound: nothing lost or repeated, including rows that share one ``modifiedon`` second across two runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stack, iso, server_env, source_rows


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    emulator = start_emulator(scale=300, seed=9)
    stack = Stack(emulator, tmp_path / "server", server_env(emulator, FLOWSERVICE_PAGE_SIZE="40",
                                                             FLOWSERVICE_COMMIT_EVERY_ROWS="40"))
    stack.start()
    yield stack
    stack.stop()


def touch(stack: Stack, row_id: str, value: str) -> str:
    with stack.emulator.client() as client:
        client.patch(f"cr6f1_projects({row_id})", json={"cr6f1_name": value}).raise_for_status()
        row = client.get(f"cr6f1_projects({row_id})", params={"$select": "modifiedon"}).json()
    return str(row["modifiedon"])


def test_watermark_runs_are_exact_across_shared_timestamps_in_merge_and_append(stack: Stack) -> None:
    connection = stack.connection()
    merge = stack.flow(connection, "cr6f1_project", "merge")
    append = stack.flow(connection, "cr6f1_project", "append")
    for flow in (merge, append):
        assert stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]["status"] == "success"
    ids = sorted(source_rows(stack.emulator, "cr6f1_projects", "cr6f1_projectid"))
    shared_boundaries = 0
    for attempt in range(8):
        first = touch(stack, ids[attempt], f"before {attempt}")
        runs = [stack.trigger(merge), stack.trigger(append)]
        for run_id in runs:
            stack.wait(run_id)
        second = touch(stack, ids[-1 - attempt], f"after {attempt}")  # often the same second as the watermark
        shared_boundaries += first == second
        for flow in (merge, append):
            summary = stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]
            assert summary["status"] == "success", summary
        if shared_boundaries >= 2:
            break
        time.sleep(1.05 - time.time() % 1)  # start the next attempt at the top of a second
    assert shared_boundaries >= 1, "no edit landed in the watermark's second; the boundary was not exercised"

    source = {k: iso(v) for k, v in source_rows(stack.emulator, "cr6f1_projects", "cr6f1_projectid").items()}
    merged = {r["cr6f1_projectid"]: iso(r["modifiedon"]) for r in stack.dataset_rows(merge)}
    assert merged == source
    versions = [(r["cr6f1_projectid"], iso(r["modifiedon"])) for r in stack.dataset_rows(append)]
    assert len(versions) == len(set(versions)), "a version was appended twice"
    latest: dict[str, str] = {}
    for key, stamp in sorted(versions, key=lambda v: v[1]):
        latest[key] = stamp
    assert latest == source
