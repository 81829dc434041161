"""A full resync's delete detection in bounded memory: seen keys spilled to disk page by page, missing keys
found by an anti-join in the lake and deleted ``commit_every_rows`` at a time, finished after a crash."""

from __future__ import annotations

from typing import Any

import pytest

from flowservice.domain.errors import FlowServiceError
from flowservice.services.runs import engine
from flowservice.services.runs.resync import KeySpill
from tests.fakes.source import FakeTable, make_row
from tests.integration.engine.conftest import Harness

PAGE_SIZE, COMMIT_ROWS = 10, 25  # the harness's settings


class RecordingSpill(KeySpill):
    made: list[RecordingSpill] = []

    def __init__(self) -> None:
        super().__init__()
        RecordingSpill.made.append(self)


@pytest.fixture
def spills(monkeypatch: pytest.MonkeyPatch) -> list[RecordingSpill]:
    RecordingSpill.made = []
    monkeypatch.setattr(engine, "KeySpill", RecordingSpill)
    return RecordingSpill.made


def resync_after_deleting(harness: Harness, table: FakeTable, count: int) -> None:
    for key in sorted(table.rows)[:count]:
        table.delete(key)
    table.log.clear()  # the change log no longer covers the flow's token
    harness.org.faults.expire_delta_token = True


def test_a_resync_deletes_more_missing_keys_than_one_commit_holds(
    harness: Harness, spills: list[RecordingSpill]
) -> None:
    table = harness.org.add_table("account", rows=100)
    flow = harness.flow("account")
    harness.run(flow)
    resync_after_deleting(harness, table, 60)
    run = harness.run(flow)
    assert {r["accountid"]: r for r in harness.dataset(flow)} == table.rows
    assert run["metrics"]["recordSummary"]["deletedRecordCount"] == 60
    assert run["metrics"]["fileSummary"]["outputFileCount"] >= 60 // COMMIT_ROWS + 1  # deletes in chunks
    assert len(spills) == 1
    assert spills[0].count == 40 and spills[0].largest_batch <= PAGE_SIZE  # one page of keys in memory, ever


def test_a_resync_stopped_while_deleting_finishes_its_deletes_on_the_next_run(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, spills: list[RecordingSpill]
) -> None:
    table = harness.org.add_table("account", rows=100)
    flow = harness.flow("account")
    harness.run(flow)
    resync_after_deleting(harness, table, 70)
    lake = harness.container.lake
    real_commit = lake.commit
    chunks: list[int] = []

    def crash_on_second_chunk(*args: Any, **kwargs: Any) -> Any:
        if kwargs["cursor"].get("deleting_missing"):
            chunks.append(len(kwargs["deleted_keys"]))
            if len(chunks) == 2:
                raise FlowServiceError("the disk went away")
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(lake, "commit", crash_on_second_chunk)
    harness.run(flow, expect="failed")
    assert chunks == [COMMIT_ROWS, COMMIT_ROWS]
    assert len(harness.dataset(flow)) == 100 - COMMIT_ROWS  # the first chunk is in, the rest is not
    monkeypatch.setattr(lake, "commit", real_commit)

    table.upsert(make_row(table, 500, modified=900))  # arrives after the resync's read
    finishing = harness.run(flow)
    assert {r["accountid"] for r in harness.dataset(flow)} == set(table.rows) - {
        make_row(table, 500, modified=0)["accountid"]
    }
    assert finishing["metrics"]["statusSummary"]["extensions"]["fullResync"] is True
    assert spills[-1].largest_batch <= PAGE_SIZE
    harness.run(flow)  # the read's own cursor was kept: the next run reads the changes since
    assert {r["accountid"]: r for r in harness.dataset(flow)} == table.rows
