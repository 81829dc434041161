"""The custom table without change tracking (``cr6f1_project``), read by ``modifiedon`` with an inclusive
lower bound: nothing lost or repeated, including rows that share one ``modifiedon`` second across two runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stack, iso, server_env, source_rows


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    emulator = start_emulator(scale=300, seed=9)
    stack = Stack(
        emulator,
        tmp_path / "server",
        server_env(emulator, FLOWSERVICE_PAGE_SIZE="40", FLOWSERVICE_COMMIT_EVERY_ROWS="40"),
    )
    stack.start()
    yield stack
    stack.stop()


def touch(stack: Stack, row_id: str, value: str) -> str:
    with stack.emulator.client() as client:
        client.patch(f"cr6f1_projects({row_id})", json={"cr6f1_name": value}).raise_for_status()
        row = client.get(f"cr6f1_projects({row_id})", params={"$select": "modifiedon"}).json()
    return str(row["modifiedon"])


def set_modifiedon(stack: Stack, row_id: str, modifiedon: str) -> None:
    with stack.emulator.client() as client:
        client.patch(
            f"{stack.emulator.org_url}/_emulator/records/cr6f1_project/{row_id}", json={"modifiedon": modifiedon}
        ).raise_for_status()


def test_watermark_runs_are_exact_across_shared_timestamps_in_merge_and_append(stack: Stack) -> None:
    connection = stack.connection()
    merge = stack.flow(connection, "cr6f1_project", "merge")
    append = stack.flow(connection, "cr6f1_project", "append")
    for flow in (merge, append):
        assert stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]["status"] == "success"
    ids = sorted(source_rows(stack.emulator, "cr6f1_projects", "cr6f1_projectid"))
    for attempt in range(2):
        watermark = touch(stack, ids[attempt], f"before {attempt}")  # the newest row: the runs' watermark
        for run_id in [stack.trigger(merge), stack.trigger(append)]:
            stack.wait(run_id)
        # an edit in the watermark's own second, after the runs that left it: the next runs must read it.
        # Stamped through the emulator's admin route, not left to the clock: on a loaded machine the runs
        # above take more than a second, and the boundary would go unexercised
        edited = ids[-1 - attempt]
        touch(stack, edited, f"after {attempt}")
        set_modifiedon(stack, edited, watermark)
        for flow in (merge, append):
            summary = stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]
            assert summary["status"] == "success", summary

    source = {k: iso(v) for k, v in source_rows(stack.emulator, "cr6f1_projects", "cr6f1_projectid").items()}
    merged = {r["cr6f1_projectid"]: iso(r["modifiedon"]) for r in stack.dataset_rows(merge)}
    assert merged == source
    versions = [(r["cr6f1_projectid"], iso(r["modifiedon"])) for r in stack.dataset_rows(append)]
    assert len(versions) == len(set(versions)), "a version was appended twice"
    latest: dict[str, str] = {}
    for key, stamp in sorted(versions, key=lambda v: v[1]):
        latest[key] = stamp
    assert latest == source


def test_a_row_committed_late_with_an_older_modifiedon_arrives_and_nothing_is_doubled(stack: Stack) -> None:
    """The overlap (``FLOWSERVICE_WATERMARK_OVERLAP_SECONDS``, 300 by default) re-reads the last minutes
    before the watermark: a row that became visible after a run, stamped before that run's watermark, is read
    by the next run; merge holds it once and append holds each version once."""
    connection = stack.connection()
    merge = stack.flow(connection, "cr6f1_project", "merge")
    append = stack.flow(connection, "cr6f1_project", "append")
    for flow in (merge, append):
        assert stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]["status"] == "success"
    watermark = dt.datetime.fromisoformat(
        max(source_rows(stack.emulator, "cr6f1_projects", "cr6f1_projectid").values()).replace("Z", "+00:00")
    )
    late = watermark - dt.timedelta(seconds=60)
    with stack.emulator.client() as client:
        created = client.post("cr6f1_projects", json={"cr6f1_name": "committed late"})
        created.raise_for_status()
        row_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
        admin = client.patch(
            f"{stack.emulator.org_url}/_emulator/records/cr6f1_project/{row_id}",
            json={"modifiedon": late.strftime("%Y-%m-%dT%H:%M:%SZ")},
        )
        admin.raise_for_status()
    for _ in range(2):  # the second run re-reads the late row and the watermark's block: nothing doubles
        for flow in (merge, append):
            assert stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]["status"] == "success"

    source = {k: iso(v) for k, v in source_rows(stack.emulator, "cr6f1_projects", "cr6f1_projectid").items()}
    assert source[row_id] == iso(late)
    merged = {r["cr6f1_projectid"]: iso(r["modifiedon"]) for r in stack.dataset_rows(merge)}
    assert merged == source
    versions = [(r["cr6f1_projectid"], iso(r["modifiedon"])) for r in stack.dataset_rows(append)]
    assert len(versions) == len(set(versions)), "a version was appended twice"
    assert dict(versions) == source
