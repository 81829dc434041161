"""The run document's progress samples (``metrics.recordSummary.extensions.samples``), written with each commit."""

from __future__ import annotations

import itertools

from tests.integration.engine.conftest import Harness


def samples(run: dict) -> list[list[int]]:
    return run["metrics"]["recordSummary"]["extensions"]["samples"]


def test_a_run_with_several_commits_carries_monotone_samples_ending_at_its_final_counters(harness: Harness) -> None:
    harness.org.add_table("account", rows=95)  # commits every 25 rows: four commits
    run = harness.run(harness.flow("account"))
    series = samples(run)
    assert run["metrics"]["fileSummary"]["outputFileCount"] == 4
    assert len(series) >= 5  # the start, then one per commit (the end shares the last commit's counters)
    assert all(len(s) == 5 for s in series)
    for earlier, later in itertools.pairwise(series):
        assert all(a <= b for a, b in zip(earlier, later, strict=True)), (earlier, later)
    summary = run["metrics"]["recordSummary"]
    final = [
        summary["inputRecordCount"],
        summary["outputRecordCount"],
        summary["deletedRecordCount"],
        summary["failedRecordCount"],
    ]
    assert series[-1][1:] == final == [95, 95, 0, 0]
    assert series[0][1:] == [0, 0, 0, 0]
    assert series[0][0] >= run["metrics"]["durationSummary"]["startedAtUTC"]
    assert series[-1][0] == run["metrics"]["durationSummary"]["completedAtUTC"]


def test_a_retriggered_run_keeps_its_samples_and_they_never_go_back(harness: Harness) -> None:
    harness.org.add_table("contact", rows=100)
    flow = harness.flow("contact", mode="append")
    harness.org.faults.fail_after_pages = 6  # two commits land, then the source breaks
    failed = harness.run(flow, expect="failed")
    before = samples(failed)
    assert 0 < before[-1][2] == failed["metrics"]["recordSummary"]["outputRecordCount"] < 100
    assert harness.api.post(f"/runs/{failed['id']}/action", params={"op": "re-trigger"}).status_code == 200
    assert harness.container.worker().run_once()
    run = harness.api.get(f"/runs/{failed['id']}").json()["items"][0]
    series = samples(run)
    assert series[0] == before[0]
    for earlier, later in itertools.pairwise(series):
        assert all(a <= b for a, b in zip(earlier, later, strict=True)), (earlier, later)
    assert series[-1][1:3] == [100, 100]
