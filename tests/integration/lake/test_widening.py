"""A column type the source widened is widened in the dataset in place: rows and values kept, the flow's
transactions and cursors still found, the table's configuration kept; a widening that would lose a value,
and every other type change, is still refused."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from flowservice.domain.errors import InvalidRequest
from flowservice.lake import DeltaLake

from .tables import TABLE, by_key, commit


def rows(employees: pa.Array, *keys: str) -> pa.Table:
    return pa.table({"accountid": pa.array(list(keys), pa.string()), "employees": employees})


@pytest.mark.parametrize("mode", ["merge", "append"])
def test_an_integer_column_widened_at_the_source_is_widened_in_place(lake: DeltaLake, mode):
    commit(lake, rows(pa.array([10, 20], pa.int32()), "a", "b"), 1, mode=mode, cursor={"n": 1})
    configuration = DeltaTable(lake.location(TABLE)).metadata().configuration

    commit(lake, rows(pa.array([2**40], pa.int64()), "c"), 2, mode=mode, cursor={"n": 2})

    table = lake.read(TABLE)
    assert table.schema.field("employees").type == pa.int64()
    found = {r["accountid"]: r["employees"] for r in table.to_pylist()}
    assert found == {"a": 10, "b": 20, "c": 2**40}
    last = lake.last_commit(TABLE, "flow-1")
    assert last is not None and last.txn_version == 2 and last.cursor["n"] == 2
    assert DeltaTable(lake.location(TABLE)).metadata().configuration == configuration


def test_a_decimal_with_more_places_is_widened_and_keeps_its_digits(lake: DeltaLake):
    commit(lake, pa.table({"accountid": ["a"], "rate": pa.array([Decimal("1.25")], pa.decimal128(38, 2))}), 1)
    commit(lake, pa.table({"accountid": ["b"], "rate": pa.array([Decimal("0.123456")], pa.decimal128(38, 6))}), 2)
    table = by_key(lake.read(TABLE))
    assert lake.read(TABLE).schema.field("rate").type == pa.decimal128(38, 6)
    assert table["a"]["rate"] == Decimal("1.250000") and table["b"]["rate"] == Decimal("0.123456")


def test_a_type_change_that_is_no_widening_is_still_refused_and_nothing_is_rewritten(lake: DeltaLake):
    commit(lake, rows(pa.array([10], pa.int64()), "a"), 1)
    with pytest.raises(InvalidRequest, match="'employees' is stored as long"):
        commit(lake, rows(pa.array([1.5], pa.float64()), "b"), 2)
    assert lake.stats(TABLE)["version"] == 0
