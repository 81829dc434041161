"""Which columns a run says changed: added, widened and gone, each said once; the lake's own columns never."""

from __future__ import annotations

import pyarrow as pa

from flowservice.services.runs.drift import drift_note, schema_changes

DATASET = [
    {"name": "accountid", "type": "string"},
    {"name": "employees", "type": "integer"},
    {"name": "rate", "type": "decimal(38,2)"},
    {"name": "telephone1", "type": "string"},
    {"name": "_change_type", "type": "string"},
]


def landing(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in fields])


def test_a_first_write_has_nothing_to_compare_with() -> None:
    assert schema_changes(None, landing(("accountid", pa.string())), []) == ([], [])


def test_added_widened_and_gone_columns_are_named_and_the_lake_s_columns_are_not() -> None:
    changes, gone = schema_changes(
        DATASET,
        landing(
            ("accountid", pa.string()),
            ("employees", pa.int64()),
            ("rate", pa.decimal128(38, 6)),
            ("tier", pa.string()),
        ),
        [],
    )
    assert changes == [
        {"column": "tier", "change": "added", "type": "string"},
        {"column": "employees", "change": "widened", "from": "integer", "type": "int64"},
        {"column": "rate", "change": "widened", "from": "decimal(38,2)", "type": "decimal128(38, 6)"},
        {"column": "telephone1", "change": "gone"},
    ]
    assert gone == ["telephone1"]
    message = drift_note(changes)["message"]
    assert "tier added" in message and "employees (integer to int64)" in message and "telephone1 no longer" in message


def test_a_gone_column_is_said_once_and_a_narrower_type_is_no_change() -> None:
    same = landing(("accountid", pa.string()), ("employees", pa.int16()), ("rate", pa.decimal128(38, 2)))
    changes, gone = schema_changes(DATASET, same, ["telephone1"])
    assert changes == [] and gone == ["telephone1"]
