"""Dataverse JSON pages become Arrow batches typed by metadata, without losing digits, dates or nulls."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pytest

from flowservice.domain.errors import SourceError
from flowservice.ports import Column
from flowservice.sources.dynamics.convert import decimal_quoter, select_names, to_batch, wire_key

UUID = {"type": "string", "format": "uuid"}


def col(name: str, arrow: pa.DataType, xdm: dict | None = None, original: str = "X") -> Column:
    return Column(name=name, arrow_type=arrow, original_type=original, xdm=xdm or {"type": "string"})


def parse(body: bytes, columns: list[Column]) -> list[dict]:
    quote = decimal_quoter(columns)
    return orjson.loads(quote(body) if quote else body)["value"]


def test_money_and_decimals_keep_every_digit_beyond_float_precision():
    columns = [col("revenue", pa.decimal128(38, 4)), col("rate", pa.decimal128(38, 10))]
    body = b'{"value":[{"revenue": 922337203685477.1234,"rate":0.1234567891},{"revenue":null,"rate":-1E+2}]}'
    batch = to_batch(parse(body, columns), columns, "account")
    assert batch.column("revenue").to_pylist() == [Decimal("922337203685477.1234"), None]
    assert batch.column("rate").to_pylist() == [Decimal("0.1234567891"), Decimal("-100.0000000000")]


def test_decimal_with_more_places_than_metadata_is_rounded_half_even_not_rejected():
    columns = [col("amount", pa.decimal128(38, 2))]
    batch = to_batch(parse(b'{"value":[{"amount":1.005},{"amount":1.015}]}', columns), columns, "t")
    assert batch.column("amount").to_pylist() == [Decimal("1.00"), Decimal("1.02")]


def test_decimal_quoting_does_not_touch_text_that_looks_like_a_key():
    columns = [col("revenue", pa.decimal128(38, 2)), col("note", pa.string())]
    body = b'{"value":[{"note":"he wrote \\"revenue\\": 12.5 here","revenue":12.50}]}'
    batch = to_batch(parse(body, columns), columns, "t")
    assert batch.column("note").to_pylist() == ['he wrote "revenue": 12.5 here']
    assert batch.column("revenue").to_pylist() == [Decimal("12.50")]


def test_date_only_values_become_dates_even_when_sent_with_a_time():
    columns = [col("birthday", pa.date32())]
    rows: list[dict[str, Any]] = [{"birthday": "2024-03-15"}, {"birthday": None}, {"birthday": "2024-03-16T00:00:00Z"}]
    batch = to_batch(rows, columns, "contact")
    assert batch.column("birthday").to_pylist() == [dt.date(2024, 3, 15), None, dt.date(2024, 3, 16)]


def test_timestamps_are_utc_microseconds_with_or_without_fraction_or_zone():
    columns = [col("modifiedon", pa.timestamp("us", tz="UTC"))]
    rows: list[dict[str, Any]] = [
        {"modifiedon": "2023-04-07T21:59:01Z"},
        {"modifiedon": "2023-04-07T21:59:01.123Z"},
        {"modifiedon": None},
    ]
    batch = to_batch(rows, columns, "t")
    values = batch.column("modifiedon").to_pylist()
    assert values[0] == dt.datetime(2023, 4, 7, 21, 59, 1, tzinfo=dt.UTC)
    assert values[1] == dt.datetime(2023, 4, 7, 21, 59, 1, 123000, tzinfo=dt.UTC)
    assert values[2] is None
    naive = to_batch([{"modifiedon": "2023-04-07T21:59:01"}], columns, "t").column("modifiedon").to_pylist()
    assert naive == [dt.datetime(2023, 4, 7, 21, 59, 1, tzinfo=dt.UTC)]


def test_guids_are_lower_cased_and_missing_sparse_columns_are_null_not_dropped():
    columns = [col("accountid", pa.string(), UUID), col("fax", pa.string()), col("n", pa.int32())]
    rows: list[dict[str, Any]] = [
        {"accountid": "78914942-34CB-ED11-B596-0022481D68CD", "n": 1},
        {"accountid": "a", "fax": "1"},
    ]
    batch = to_batch(rows, columns, "account")
    assert batch.schema.names == ["accountid", "fax", "n"]
    assert batch.column("accountid").to_pylist() == ["78914942-34cb-ed11-b596-0022481d68cd", "a"]
    assert batch.column("fax").to_pylist() == [None, "1"]
    assert batch.column("n").to_pylist() == [1, None]


def test_integers_booleans_and_doubles_are_typed_and_large_integers_survive():
    columns = [col("i", pa.int32()), col("b", pa.int64()), col("ok", pa.bool_()), col("d", pa.float64())]
    rows: list[dict[str, Any]] = [
        {"i": 2147483647, "b": 9223372036854775807, "ok": True, "d": 1},
        {"i": None, "b": "12", "ok": None, "d": 2.5},
    ]
    batch = to_batch(rows, columns, "t")
    assert batch.column("i").to_pylist() == [2147483647, None]
    assert batch.column("b").to_pylist() == [9223372036854775807, 12]
    assert batch.column("ok").to_pylist() == [True, None]
    assert batch.column("d").to_pylist() == [1.0, 2.5]


def test_lookup_target_companion_is_read_from_its_annotation():
    companion = col("_ownerid_value_lookuplogicalname", pa.string())
    columns = [col("_ownerid_value", pa.string(), UUID), companion]
    assert wire_key(companion) == "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"
    assert select_names(columns) == ["_ownerid_value"]
    rows: list[dict[str, Any]] = [
        {"_ownerid_value": "ABC", "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "team"}
    ]
    assert to_batch(rows, columns, "t").to_pylist() == [
        {"_ownerid_value": "abc", "_ownerid_value_lookuplogicalname": "team"}
    ]


def test_complex_values_in_text_columns_become_json_text():
    columns = [col("iscustomizable", pa.string())]
    batch = to_batch([{"iscustomizable": {"Value": True}}, {"iscustomizable": None}], columns, "t")
    assert batch.column("iscustomizable").to_pylist() == ['{"Value":true}', None]


def test_a_value_contradicting_metadata_fails_loudly_naming_the_column():
    columns = [col("numberofemployees", pa.int32(), original="IntegerType")]
    with pytest.raises(SourceError, match=r"account\.numberofemployees"):
        to_batch([{"numberofemployees": "many"}], columns, "account")


def test_an_empty_page_is_an_empty_batch_with_the_schema():
    columns = [col("a", pa.string()), col("d", pa.date32())]
    batch = to_batch([], columns, "t")
    assert batch.num_rows == 0 and batch.schema.types == [pa.string(), pa.date32()]
