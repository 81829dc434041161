"""Two writers of one flow's transactions (a worker presumed dead that woke up, and its successor): what
delta-rs does with their commits, and what the lake makes of it. The engine's fencing relies on these."""

from __future__ import annotations

import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

import flowservice.lake.delta as delta_module
from flowservice.domain.errors import FlowServiceError
from flowservice.lake import DeltaLake

from .tables import TABLE, accounts, by_key, commit


def _txn(version: int) -> CommitProperties:
    return CommitProperties(app_transactions=[Transaction("flow-1", version)])


@pytest.mark.parametrize("version", [2, 3, 7])
def test_delta_refuses_a_commit_whose_snapshot_another_commit_of_the_app_overtook(lake: DeltaLake, version: int):
    commit(lake, accounts(("a", "Alpha", 1)), 1)
    stale = DeltaTable(lake.location(TABLE))  # read before the other writer's commit
    commit(lake, accounts(("b", "Beta", 2)), 2)

    with pytest.raises(CommitFailedError):  # whatever the version the stale writer meant to write
        write_deltalake(stale, accounts(("c", "Gamma", 3)), mode="append", commit_properties=_txn(version))


def test_delta_itself_accepts_a_repeated_transaction_from_a_fresh_snapshot(lake: DeltaLake):
    """Why the lake checks the transaction on the snapshot it commits to: delta-rs would append it again."""
    commit(lake, accounts(("a", "Alpha", 1)), 1)
    write_deltalake(
        DeltaTable(lake.location(TABLE)), accounts(("a", "Alpha", 1)), mode="append", commit_properties=_txn(1)
    )
    assert lake.read(TABLE).num_rows == 2


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_a_writer_that_found_no_table_and_woke_after_another_created_it_writes_nothing(
    lake: DeltaLake, monkeypatch, mode, tmp_path
):
    commit(lake, accounts(("a", "Alpha", 1), ("b", "Beta", 2)), 1, mode=mode)  # the successor's first commit
    paused = DeltaLake(str(tmp_path / "lake"))  # another worker's lake: it keeps no table of the successor's
    real_open = DeltaLake._open
    calls = iter([None])  # the paused writer looked before that commit: no table yet
    monkeypatch.setattr(DeltaLake, "_open", lambda self, uri: next(calls, "real") and real_open(self, uri))

    late = commit(paused, accounts(("a", "Alpha", 1), ("b", "Beta", 2)), 1, mode=mode)

    assert late.noop
    assert lake.read(TABLE).num_rows == 2 and sorted(by_key(lake.read(TABLE))) == ["a", "b"]
    assert lake.stats(TABLE)["version"] == 0


def test_a_storage_error_names_no_path_of_the_lake(lake: DeltaLake, monkeypatch, tmp_path):
    commit(lake, accounts(("a", "Alpha", 1)), 1)

    def broken(*args, **kwargs):
        raise DeltaError(f"Generic error: cannot write {lake.location(TABLE)}/part-0001.parquet")

    monkeypatch.setattr(delta_module, "write_deltalake", broken)
    with pytest.raises(FlowServiceError) as caught:
        commit(lake, accounts(("b", "Beta", 2)), 2, mode="append")

    message = caught.value.message
    assert "failed" in message
    assert str(tmp_path) not in message and TABLE not in message and "parquet" not in message


def test_a_missing_table_is_not_found_without_its_path(lake: DeltaLake):
    from flowservice.domain.errors import NotFound

    with pytest.raises(NotFound) as caught:
        lake.read(TABLE)
    assert TABLE not in caught.value.message


def test_a_later_transaction_on_a_table_that_was_dropped_is_refused_and_creates_nothing(lake: DeltaLake):
    from flowservice.domain.errors import NotFound

    commit(lake, accounts(("a", "Alpha", 1)), 1)
    lake.drop(TABLE)  # the dataset was deleted under a running run

    with pytest.raises(NotFound):
        commit(lake, accounts(("b", "Beta", 2)), 2)
    assert lake.stats(TABLE) == {}
