"""Schema evolution and exact round trips of the types Dynamics sends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from flowservice.domain.errors import InvalidRequest
from flowservice.lake import DeltaLake

from .tables import TABLE, accounts, by_key, commit


@pytest.mark.parametrize("mode", ["merge", "append"])
def test_new_columns_are_added_without_losing_rows(lake: DeltaLake, mode):
    commit(lake, accounts(("a", "Alpha", 10), ("b", "Beta", 20)), 1, mode=mode)
    wider = accounts(("c", "Gamma", 30)).append_column("industrycode", pa.array([7], pa.int32()))

    commit(lake, wider, 2, mode=mode)

    table = lake.read(TABLE)
    assert table.schema.field("industrycode").type == pa.int32()
    rows = by_key(table)
    assert sorted(rows) == ["a", "b", "c"]
    assert rows["a"]["industrycode"] is None and rows["a"]["name"] == "Alpha"
    assert rows["c"]["industrycode"] == 7


@pytest.mark.parametrize("mode", ["merge", "append"])
def test_columns_missing_from_a_batch_are_written_as_nulls_and_kept(lake: DeltaLake, mode):
    commit(lake, accounts(("a", "Alpha", 10), ("b", "Beta", 20)), 1, mode=mode, change_time=1000)

    commit(lake, pa.table({"accountid": ["b", "c"], "name": ["Beta 2", "Gamma"]}), 2, mode=mode, change_time=2000)

    table = lake.read(TABLE)
    assert table.column_names[:3] == ["accountid", "name", "employees"]
    if mode == "append":
        table = table.sort_by("_change_time")
    latest = {r["accountid"]: r for r in table.to_pylist()}  # append: the later version wins here
    assert latest["a"]["employees"] == 10
    assert latest["b"]["employees"] is None and latest["b"]["name"] == "Beta 2"
    assert latest["c"]["employees"] is None


def test_new_columns_arrive_together_with_deletes_in_one_merge(lake: DeltaLake):
    commit(lake, accounts(("a", "Alpha", 10), ("b", "Beta", 20)), 1)
    wider = accounts(("b", "Beta", 21)).append_column("website", pa.array(["b.example"]))

    result = commit(lake, wider, 2, deleted=["a"])

    assert result.version == 1
    assert lake.read(TABLE).to_pylist() == [{"accountid": "b", "name": "Beta", "employees": 21, "website": "b.example"}]


def test_a_column_changing_type_is_refused_with_a_clear_error(lake: DeltaLake):
    commit(lake, accounts(("a", "Alpha", 10)), 1)
    retyped = pa.table({"accountid": ["b"], "employees": pa.array(["many"], pa.string())})

    with pytest.raises(InvalidRequest, match="'employees' is stored as long in the dataset but arrives as string"):
        commit(lake, retyped, 2)
    assert lake.stats(TABLE)["version"] == 0
    assert lake.last_commit(TABLE, "flow-1").txn_version == 1  # type: ignore[union-attr]


def test_a_timestamp_losing_its_time_zone_is_a_type_change(lake: DeltaLake):
    utc = pa.table({"accountid": ["a"], "modifiedon": pa.array([0], pa.timestamp("us", tz="UTC"))})
    commit(lake, utc, 1)

    with pytest.raises(InvalidRequest, match="modifiedon"):
        commit(lake, utc.cast(pa.schema([("accountid", pa.string()), ("modifiedon", pa.timestamp("us"))])), 2)


def test_narrower_integers_and_large_strings_fit_existing_columns(lake: DeltaLake):
    commit(lake, accounts(("a", "Alpha", 10)), 1)
    narrower = pa.table(
        {
            "accountid": pa.array(["b"], pa.large_string()),
            "name": pa.array(["Beta"], pa.large_string()),
            "employees": pa.array([5], pa.int16()),
        }
    )

    commit(lake, narrower, 2)

    table = lake.read(TABLE)
    assert table.schema.field("employees").type == pa.int64()
    assert by_key(table)["b"] == {"accountid": "b", "name": "Beta", "employees": 5}


def test_decimals_dates_and_timestamps_round_trip_exactly(lake: DeltaLake):
    data = pa.table(
        {
            "accountid": ["a", "b", "c"],
            "revenue": pa.array([Decimal("12345678901234.5678"), Decimal("-0.0001"), None], pa.decimal128(19, 4)),
            "founded": pa.array([dt.date(1900, 1, 1), dt.date(2024, 2, 29), None], pa.date32()),
            "modifiedon": pa.array(
                [
                    dt.datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=dt.UTC),
                    dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
                    None,
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "rating": pa.array([0.1, 1e300, None], pa.float64()),
            "active": pa.array([True, False, None]),
            "notes": pa.array(["é ünïcödé ✓", "", None]),
        }
    )

    commit(lake, data, 1)
    commit(lake, data.slice(1, 1), 2)  # rewrite one row through MERGE as well

    read = lake.read(TABLE).sort_by("accountid")
    assert read.schema.field("revenue").type == pa.decimal128(19, 4)
    assert read.schema.field("founded").type == pa.date32()
    assert read.schema.field("modifiedon").type == pa.timestamp("us", tz="UTC")
    assert read.to_pylist() == data.to_pylist()


def test_new_columns_without_a_type_are_refused(lake: DeltaLake):
    with pytest.raises(InvalidRequest, match="without a type cannot be added to a dataset: nothing"):
        commit(lake, pa.table({"accountid": ["a"], "nothing": pa.nulls(1)}), 1)
