"""The explore API's JSON: a column as ``schema.columns`` lists it, a preview's rows typed as its schema says;
mapping preview and export answer in the same shapes."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pyarrow as pa

from flowservice.domain.errors import InvalidRequest
from flowservice.ports import Column

MAX_PREVIEW = 100


def explore_column(column: Column) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": column.name,
        "type": explore_type(column.arrow_type),
        "meta": {"originalType": column.original_type},
        "xdm": dict(column.xdm),
    }
    if column.is_primary_key:
        entry["meta"]["primaryKey"] = True
    if pa.types.is_decimal(column.arrow_type):  # so a client can type sample rows as a run does (mapping preview)
        entry["meta"]["precision"] = column.arrow_type.precision
        entry["meta"]["scale"] = column.arrow_type.scale
    if column.description:
        entry["description"] = column.description
    return entry


def explore_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_int64(arrow_type):
        return "long"
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_decimal(arrow_type):
        return "decimal"
    if pa.types.is_floating(arrow_type):
        return "double"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "date-time"
    if pa.types.is_list(arrow_type):
        return "array"
    return "string"


def arrow_to_json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Preview rows as JSON values typed as the schema says (decimals as strings keep their precision)."""
    rows: list[dict[str, Any]] = table.to_pylist()
    for row in rows:
        for key, value in row.items():
            if isinstance(value, decimal.Decimal):
                row[key] = str(value)
            elif isinstance(value, dt.datetime):
                row[key] = value.isoformat().replace("+00:00", "Z")
            elif isinstance(value, dt.date):
                row[key] = value.isoformat()
            elif isinstance(value, bytes):
                row[key] = value.hex()
    return rows


def preview_count(raw: str | None) -> int:
    if raw is None:
        return 10
    try:
        count = int(raw)
    except ValueError:
        raise InvalidRequest(f"previewCount must be an integer between 1 and {MAX_PREVIEW}; got {raw!r}.") from None
    if not 1 <= count <= MAX_PREVIEW:
        raise InvalidRequest(f"previewCount must be between 1 and {MAX_PREVIEW}; got {count}.")
    return count
