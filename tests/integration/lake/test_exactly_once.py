"""Cursors stored with the data, failed writes that leave nothing behind, and races that land once."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import deltalake
import pyarrow as pa
import pytest
from deltalake import DeltaTable

import flowservice.lake.delta as delta_module
from flowservice.domain.errors import FlowServiceError
from flowservice.lake import DeltaLake

from .tables import TABLE, accounts, by_key, commit


def test_last_commit_returns_the_cursor_stored_with_the_data(lake: DeltaLake):
    commit(lake, accounts(("a", "Alpha", 1)), 1, cursor={"deltaLink": "https://org/api?$deltatoken=1"})
    commit(lake, accounts(("b", "Beta", 2)), 2, cursor={"deltaLink": "https://org/api?$deltatoken=2", "n": 2})

    last = lake.last_commit(TABLE, "flow-1")

    assert last is not None
    assert (last.txn_version, last.table_version) == (2, 1)
    assert last.cursor == {"deltaLink": "https://org/api?$deltatoken=2", "n": 2}


def test_last_commit_is_none_for_a_missing_table_or_an_unknown_app(lake: DeltaLake):
    assert lake.last_commit(TABLE, "flow-1") is None
    commit(lake, accounts(("a", "Alpha", 1)), 1)
    assert lake.last_commit(TABLE, "another-flow") is None


def test_last_commit_is_exact_after_many_commits_and_a_restart(lake: DeltaLake, tmp_path):
    for txn in range(1, 121):  # past several checkpoints (every 20 commits)
        app = "flow-1" if txn % 3 else "flow-2"
        commit(lake, accounts((f"k{txn}", "x", txn)), txn, cursor={"watermark": txn}, app_id=app)

    restarted = DeltaLake(str(tmp_path / "lake"))
    first, second = restarted.last_commit(TABLE, "flow-1"), restarted.last_commit(TABLE, "flow-2")

    assert first is not None and (first.txn_version, first.cursor) == (119, {"watermark": 119})
    assert second is not None and (second.txn_version, second.cursor) == (120, {"watermark": 120})
    assert first.table_version == 118 and second.table_version == 119
    assert commit(restarted, accounts(("k1", "again", 0)), 119).noop
    log = sorted(p.name for p in (tmp_path / "lake" / TABLE / "_delta_log").glob("*.checkpoint.parquet"))
    assert len(log) >= 5, log


def test_last_commit_survives_compaction(lake: DeltaLake):
    for txn in range(1, 6):
        commit(lake, accounts((f"k{txn}", "x", txn)), txn, mode="append", cursor={"at": txn})

    lake.optimize(TABLE)

    assert lake.stats(TABLE)["version"] == 5  # compaction committed on top of our five commits
    last = lake.last_commit(TABLE, "flow-1")
    assert last is not None and (last.txn_version, last.cursor, last.table_version) == (5, {"at": 5}, 4)
    assert lake.read(TABLE).num_rows == 5
    assert commit(lake, accounts(("k9", "x", 9)), 5, mode="append").noop


def test_optimize_compacts_small_files_and_removes_files_no_commit_references(lake: DeltaLake):
    for txn in range(1, 4):
        commit(lake, accounts((f"k{txn}", "x", txn)), txn, mode="append")
    table_dir = Path(lake.location(TABLE))
    committed = sorted(table_dir.glob("*.parquet"))
    # a worker killed after writing a data file but before committing leaves a file no commit names
    shutil.copy(committed[0], table_dir / "part-00000-orphan-of-a-crashed-writer.snappy.parquet")
    assert lake.read(TABLE).num_rows == 3  # readers never see it

    result = lake.optimize(TABLE, retention_hours=0)

    assert len(pa.table(DeltaTable(str(table_dir)).get_add_actions()).column("path")) == 1
    assert result["files_removed"] == 4  # three compacted away, and the orphan
    assert sorted(lake.read(TABLE).column("accountid").to_pylist()) == ["k1", "k2", "k3"]
    assert lake.last_commit(TABLE, "flow-1").txn_version == 3  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["merge", "append"])
def test_failed_write_leaves_the_previous_version_intact(lake: DeltaLake, monkeypatch, mode):
    commit(lake, accounts(("a", "Alpha", 1), ("b", "Beta", 2)), 1, mode=mode, cursor={"at": 1})
    before = lake.read(TABLE).sort_by("accountid")
    _fail_writes(monkeypatch)
    batch = accounts(*[(f"n{i}", "new", i) for i in range(20)], ("a", "Alpha 2", 3))

    with pytest.raises(FlowServiceError, match="failed"):
        commit(lake, batch, 2, mode=mode, deleted=["b"], cursor={"at": 2})

    assert lake.stats(TABLE)["version"] == 0
    assert lake.read(TABLE).sort_by("accountid").equals(before)
    last = lake.last_commit(TABLE, "flow-1")
    assert last is not None and (last.txn_version, last.cursor) == (1, {"at": 1})

    monkeypatch.undo()  # the retry of the same transaction now succeeds, once
    retried = commit(lake, batch, 2, mode=mode, deleted=["b"], cursor={"at": 2})
    again = commit(lake, batch, 2, mode=mode, deleted=["b"], cursor={"at": 2})

    assert (retried.noop, retried.version, retried.rows_written, retried.rows_deleted) == (False, 1, 21, 1)
    assert again.noop and lake.stats(TABLE)["version"] == 1
    expected = 2 + 21 + 1 if mode == "append" else 21
    assert lake.read(TABLE).num_rows == expected


def test_a_writer_that_lost_the_race_for_the_same_transaction_writes_nothing(lake: DeltaLake, monkeypatch, tmp_path):
    commit(lake, accounts(("a", "Alpha", 1)), 1)
    stale = DeltaTable(lake.location(TABLE))  # what a second worker read before the first one committed
    commit(lake, accounts(("b", "Beta", 2)), 2)

    second_worker = DeltaLake(str(tmp_path / "lake"))
    opened = iter([stale])
    real_open = DeltaLake._open
    monkeypatch.setattr(DeltaLake, "_open", lambda self, uri: next(opened, None) or real_open(self, uri))
    late = commit(second_worker, accounts(("b", "Beta", 2)), 2)

    assert late.noop and late.version == 1
    assert sorted(by_key(lake.read(TABLE))) == ["a", "b"]
    assert lake.stats(TABLE)["version"] == 1


def test_concurrent_appends_of_the_same_transaction_land_once(tmp_path):
    root = str(tmp_path / "lake")
    commit(DeltaLake(root), accounts(("a", "Alpha", 1)), 1, mode="append")
    barrier = threading.Barrier(4)
    results = []

    def worker() -> None:
        lake = DeltaLake(root)
        barrier.wait()
        results.append(commit(lake, accounts(*[(f"k{i}", "x", i) for i in range(500)]), 2, mode="append"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.noop for r in results) == [False, True, True, True]
    assert DeltaLake(root).read(TABLE).num_rows == 501


def _fail_writes(monkeypatch) -> None:
    """Make every write hand delta-rs a stream that breaks after its first batch, as a crash would."""

    def broken(table: pa.Table) -> pa.RecordBatchReader:
        def batches() -> Iterator[pa.RecordBatch]:
            yield from table.slice(0, 1).to_batches()
            raise OSError("connection reset while writing")

        return pa.RecordBatchReader.from_batches(table.schema, batches())

    real_write, real_merge = deltalake.write_deltalake, delta_module._merge_into
    monkeypatch.setattr(
        delta_module, "write_deltalake", lambda target, rows, **kw: real_write(target, broken(rows), **kw)
    )
    monkeypatch.setattr(
        delta_module, "_merge_into", lambda table, source, *a, **kw: real_merge(table, broken(source), *a, **kw)
    )
