"""A first load of new keys is appended after a key check that the Delta log answers alone when the batch's
key range lies beyond every file: nothing is read, however large the table has grown. Keys within a file's
range are still looked up in that file, so an existing key always goes through MERGE."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from flowservice.lake import DeltaLake

from .tables import TABLE, accounts, by_key, commit


def batch(first: int, count: int) -> pa.Table:
    return accounts(*((f"{i:08d}", f"Account {i}", i) for i in range(first, first + count)))


def test_new_keys_beyond_every_file_are_appended_without_reading_the_table(
    lake: DeltaLake, monkeypatch: pytest.MonkeyPatch
):
    commit(lake, batch(0, 100), 1)

    def no_reading(self: DeltaTable, *args: object, **kwargs: object) -> None:
        raise AssertionError("the table's files were opened")

    monkeypatch.setattr(DeltaTable, "to_pyarrow_dataset", no_reading)
    for txn in range(2, 12):
        result = commit(lake, batch(100 * (txn - 1), 100), txn)
        assert result.rows_written == 100
    monkeypatch.undo()
    landed = by_key(lake.read(TABLE))
    assert len(landed) == 1100 and landed["00001099"]["employees"] == 1099
    assert lake.stats(TABLE)["version"] == 10


def test_a_key_inside_a_files_range_is_looked_up_and_merged(lake: DeltaLake):
    commit(lake, batch(0, 10), 1)
    commit(lake, batch(20, 10), 2)
    result = commit(lake, accounts(("00000025", "Renamed", 1), ("00000015", "Between", 2)), 3)
    landed = by_key(lake.read(TABLE))
    assert result.rows_written == 2 and len(landed) == 21
    assert landed["00000025"]["name"] == "Renamed" and landed["00000015"]["name"] == "Between"


def test_new_keys_inside_a_files_range_are_appended_after_reading_that_file(lake: DeltaLake):
    commit(lake, accounts(("a", "A", 1), ("c", "C", 3)), 1)
    result = commit(lake, accounts(("b", "B", 2)), 2)
    assert result.rows_written == 1 and sorted(by_key(lake.read(TABLE))) == ["a", "b", "c"]
