"""The key's ranges are in the Delta log wherever the key lands in the schema: a key beyond delta-rs's 32 columns
with statistics still lets a first load's merge skip every file from the log alone (``lake/key_stats.py``)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from flowservice.lake import DeltaLake
from flowservice.lake.key_stats import STATS_COLUMNS
from flowservice.lake.storage import TABLE_CONFIGURATION

from .tables import TABLE, by_key, commit

KEY_POSITION = 40


def wide_page(first: int, count: int, key_position: int = KEY_POSITION) -> pa.Table:
    """``count`` rows of 50 columns, the key ``accountid`` the ``key_position``-th (0-based)."""
    columns: dict[str, Any] = {f"c{c:02d}": pa.array(range(first, first + count), pa.int64()) for c in range(49)}
    names = list(columns)
    names.insert(key_position, "accountid")
    columns["accountid"] = pa.array([f"{i:08d}" for i in range(first, first + count)])
    return pa.table({name: columns[name] for name in names})


def key_ranges(lake: DeltaLake) -> list[tuple[str | None, str | None]]:
    files = pa.table(DeltaTable(lake.location(TABLE)).get_add_actions(flatten=True))
    if "min.accountid" not in files.column_names:
        return [(None, None)] * files.num_rows
    ranges = zip(files.column("min.accountid").to_pylist(), files.column("max.accountid").to_pylist(), strict=True)
    return sorted(ranges, key=lambda bounds: bounds[0] or "")  # a file without statistics first


def no_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def reading(self: DeltaTable, *args: object, **kwargs: object) -> None:
        raise AssertionError("the table's files were opened")

    monkeypatch.setattr(DeltaTable, "to_pyarrow_dataset", reading)


@pytest.mark.parametrize("mode", ["merge", "append"])
def test_a_table_whose_key_is_column_40_has_key_ranges_in_its_log(lake: DeltaLake, mode):
    commit(lake, wide_page(0, 10), 1, mode=mode)
    commit(lake, wide_page(100, 10), 2, mode=mode)

    assert key_ranges(lake) == [("00000000", "00000009"), ("00000100", "00000109")]
    stats_columns = DeltaTable(lake.location(TABLE)).metadata().configuration[STATS_COLUMNS]
    assert stats_columns == ",".join(f"`c{c:02d}`" for c in range(32)) + ",`accountid`"  # as many as before


def test_a_merge_of_keys_beyond_every_files_range_reads_no_file_when_the_key_is_column_40(
    lake: DeltaLake, monkeypatch: pytest.MonkeyPatch
):
    commit(lake, wide_page(0, 10), 1)
    commit(lake, wide_page(100, 10), 2)
    no_reading(monkeypatch)

    result = commit(lake, wide_page(200, 10), 3)

    monkeypatch.undo()
    assert result.rows_written == 10
    landed = by_key(lake.read(TABLE))
    assert len(landed) == 30 and landed["00000205"]["c10"] == 205


def test_a_key_among_the_first_32_columns_leaves_the_default_statistics(lake: DeltaLake):
    commit(lake, wide_page(0, 10, key_position=5), 1)

    table = DeltaTable(lake.location(TABLE))
    assert STATS_COLUMNS not in table.metadata().configuration
    assert key_ranges(lake) == [("00000000", "00000009")]


def test_a_table_made_without_key_statistics_gets_them_at_its_next_commit(
    lake: DeltaLake, monkeypatch: pytest.MonkeyPatch
):
    """A table an earlier version created: its new files get key ranges; its old ones until ``optimize``."""
    first = wide_page(0, 10)
    write_deltalake(lake.location(TABLE), first, configuration=TABLE_CONFIGURATION)
    assert key_ranges(lake) == [(None, None)]

    commit(lake, wide_page(100, 10), 1)
    commit(lake, wide_page(200, 10), 2)

    assert key_ranges(lake)[-2:] == [("00000100", "00000109"), ("00000200", "00000209")]
    lake.optimize(TABLE)
    assert key_ranges(lake) == [("00000000", "00000209")]
    no_reading(monkeypatch)
    assert commit(lake, wide_page(300, 10), 3).rows_written == 10
    monkeypatch.undo()
    assert lake.last_commit(TABLE, "flow-1").txn_version == 3  # type: ignore[union-attr]
    assert lake.read(TABLE).num_rows == 40
