"""Dataverse JSON pages → Arrow record batches typed by the metadata schema.

Column-wise: one Python list per column (the values orjson produced), one ``pa.array`` per column, then
vectorised casts (ISO strings → timestamp/date, decimal strings → decimal128, GUIDs lower-cased). Money and
decimal values are quoted in the raw bytes *before* parsing, so they never pass through a binary float and
keep every digit. A value that contradicts the metadata type raises ``SourceError`` naming the column: data is
never silently nulled.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from flowservice.domain.errors import SourceError
from flowservice.services.ports import Column

from .metadata import LOOKUP_ANNOTATION, LOOKUP_TARGET_SUFFIX

_NUMBER = rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_UTC = pa.timestamp("us", tz="UTC")
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError, ValueError)


def is_companion(column: Column) -> bool:
    return column.name.startswith("_") and column.name.endswith(LOOKUP_TARGET_SUFFIX)


def wire_key(column: Column) -> str:
    """The JSON key a column's value arrives under (an annotation for lookup-target companions)."""
    if is_companion(column):
        return f"{column.name[: -len(LOOKUP_TARGET_SUFFIX)]}@{LOOKUP_ANNOTATION}"
    return column.name


def select_names(columns: Sequence[Column]) -> list[str]:
    """``$select`` properties: companions are annotations of their lookup, which is selected instead."""
    names: dict[str, None] = {}
    for column in columns:
        names[column.name[: -len(LOOKUP_TARGET_SUFFIX)] if is_companion(column) else column.name] = None
    return list(names)


def decimal_quoter(columns: Sequence[Column]) -> Callable[[bytes], bytes] | None:
    """A bytes rewrite ``"revenue": 20000.0000`` → ``"revenue":"20000.0000"`` for the decimal columns.

    Safe on valid JSON: ``"name":`` with unescaped quotes only ever occurs as an object key, and Dataverse
    property names never contain quotes or backslashes.
    """
    names = [c.name.encode() for c in columns if pa.types.is_decimal(c.arrow_type)]
    if not names:
        return None
    pattern = re.compile(rb'"(' + b"|".join(re.escape(n) for n in names) + rb')"(\s*):(\s*)(' + _NUMBER + rb")")
    replacement = rb'"\1"\2:\3"\4"'
    return lambda body: pattern.sub(replacement, body)


def to_batch(rows: Sequence[dict[str, Any]], columns: Sequence[Column], table: str) -> pa.RecordBatch:
    arrays = []
    for column in columns:
        key = wire_key(column)
        values = [row.get(key) for row in rows]
        try:
            arrays.append(convert(values, column))
        except _ARROW_ERRORS as exc:
            raise SourceError(
                f"Dataverse sent a value in {table}.{column.name} that does not fit its metadata type "
                f"{column.original_type} ({column.arrow_type}): {exc}"
            ) from None
    schema = pa.schema([pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in columns])
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def convert(values: list[Any], column: Column) -> pa.Array:
    t = column.arrow_type
    if pa.types.is_decimal(t):
        return _decimals(values, t)
    if pa.types.is_timestamp(t):
        return _timestamps(values)
    if pa.types.is_date(t):
        return _dates(values)
    if pa.types.is_string(t):
        array = _strings(values)
        if column.xdm.get("format") == "uuid":
            return pc.utf8_lower(array)
        return array
    try:
        return pa.array(values, type=t)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # numbers sent as strings (OData IEEE754Compatible) or booleans as "true"
        return pc.cast(_strings(values), t)


def _strings(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(
            [v if v is None or isinstance(v, str) else orjson.dumps(v).decode() for v in values], type=pa.string()
        )


def _decimals(values: list[Any], t: pa.DataType) -> pa.Array:
    text = _strings(values)  # quoted by ``decimal_quoter``; plain JSON numbers are tolerated
    try:
        return pc.cast(text, t)
    except pa.ArrowInvalid:
        pass
    # more fractional digits than the metadata precision (precision lowered after the data was written):
    # round half-even to the column's scale, as Dataverse displays it
    quantum = decimal.Decimal(1).scaleb(-t.scale)
    rounded = [
        None if v is None else decimal.Decimal(str(v)).quantize(quantum, rounding=decimal.ROUND_HALF_EVEN)
        for v in text.to_pylist()
    ]
    return pa.array(rounded, type=t)


def _timestamps(values: list[Any]) -> pa.Array:
    text = _strings(values)
    try:
        return pc.cast(text, _UTC)
    except pa.ArrowInvalid:
        pass
    # a value without a zone offset: Dataverse date-times are UTC
    parsed = [None if v is None else _utc(dt.datetime.fromisoformat(v)) for v in text.to_pylist()]
    return pa.array(parsed, type=_UTC)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _dates(values: list[Any]) -> pa.Array:
    text = _strings(values)
    try:
        return pc.cast(text, pa.date32())
    except pa.ArrowInvalid:
        # a DateOnly value sent with a time part ("2024-03-15T00:00:00Z"): the date is the first ten characters
        return pc.cast(pc.utf8_slice_codeunits(text, 0, 10), pa.date32())
