"""The Arrow-only half of the lake: how a batch and its deletes become the rows a commit writes."""

from __future__ import annotations

import pyarrow as pa
import pytest

from flowservice.domain.errors import InvalidRequest
from flowservice.lake import changes
from flowservice.lake.schema import evolve


def _batch(*rows: tuple[str, int]) -> pa.Table:
    return pa.table({"id": [r[0] for r in rows], "v": pa.array([r[1] for r in rows], pa.int64())})


def test_last_per_key_keeps_the_last_occurrence_in_batch_order():
    batch = _batch(("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5))

    assert changes.last_per_key(batch, "id").to_pylist() == [
        {"id": "a", "v": 3},
        {"id": "c", "v": 4},
        {"id": "b", "v": 5},
    ]


def test_merge_source_tags_each_key_once_and_a_delete_wins_over_an_upsert():
    deletes = changes.keys_array(["b", "z", "b"], pa.string())

    upserts = changes.upserts(_batch(("a", 1), ("b", 2), ("a", 3)), "id", deletes)
    source = changes.merge_source(upserts, "id", deletes)

    assert [(r["id"], r["v"], r[changes.OP]) for r in source.to_pylist()] == [
        ("a", 3, "upsert"),
        ("b", None, "delete"),
        ("z", None, "delete"),
    ]


def test_change_rows_stamp_every_row_with_the_change_time_in_microseconds():
    rows = changes.change_rows(_batch(("a", 1)), "id", changes.keys_array(["b"], pa.string()), 1_700_000_000_123)

    assert rows.column(changes.CHANGE_TYPE).to_pylist() == ["upsert", "delete"]
    assert rows.column(changes.CHANGE_TIME).type == pa.timestamp("us", tz="UTC")
    assert rows.column(changes.CHANGE_TIME).cast(pa.int64()).to_pylist() == [1_700_000_000_123_000] * 2


def test_evolve_puts_table_columns_first_fills_missing_ones_and_appends_new_ones():
    table = pa.schema([("id", pa.string()), ("old", pa.float64()), ("v", pa.int64())])
    batch = pa.table({"new": ["x"], "v": pa.array([1], pa.int8()), "id": ["a"]})

    fitted = evolve(table, batch)

    assert fitted.schema.names == ["id", "old", "v", "new"]
    assert fitted.schema.field("v").type == pa.int64()
    assert fitted.to_pylist() == [{"id": "a", "old": None, "v": 1, "new": "x"}]


@pytest.mark.parametrize(
    ("stored", "arriving"),
    [
        (pa.int32(), pa.int64()),  # narrowing
        (pa.int64(), pa.string()),
        (pa.date32(), pa.timestamp("us")),
        (pa.decimal128(19, 4), pa.decimal128(19, 2)),
        (pa.int32(), pa.float64()),
    ],
)
def test_evolve_refuses_type_changes_that_could_alter_values(stored, arriving):
    with pytest.raises(InvalidRequest, match="cannot change"):
        evolve(pa.schema([("c", stored)]), pa.table({"c": pa.array([None], arriving)}))
