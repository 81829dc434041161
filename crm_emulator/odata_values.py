"""Literals of a ``$filter`` as column values: Dataverse's type checks, and the order values compare in."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from crm_emulator.errors import DataverseError, bad_request, unsupported
from crm_emulator.ids import sql_key
from crm_emulator.odata_filter import Lit, parse_datetime
from crm_emulator.schema import DECIMAL_TYPES, GUID_TYPES, INTEGER_TYPES, STRING_TYPES, Column

EDM_NAMES = {
    "string": "Edm.String",
    "int": "Edm.Int32",
    "decimal": "Edm.Decimal",
    "bool": "Edm.Boolean",
    "guid": "Edm.Guid",
    "datetime": "Edm.DateTimeOffset",
    "date": "Edm.Date",
    "enum": "Edm.Enum",
}
OP_KINDS = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}


def incompatible(col: Column, lit: Lit, op: str) -> DataverseError:
    return bad_request(
        "A binary operator with incompatible types was detected. Found operand types "
        f"'{col.edm_type}' and '{EDM_NAMES.get(lit.kind, lit.kind)}' for operator kind '{OP_KINDS.get(op, op)}'."
    )


def coerce(col: Column, lit: Lit, op: str = "eq") -> Any:
    """Turn a literal into the column's value type, or raise the error Dataverse gives for a mismatch."""
    t = col.type_name
    if lit.kind == "null":
        return None
    if t in STRING_TYPES:
        if lit.kind != "string":
            raise incompatible(col, lit, op)
        return lit.value
    if t in GUID_TYPES:
        if lit.kind != "guid":
            raise incompatible(col, lit, op)
        return lit.value
    if t in INTEGER_TYPES:
        if lit.kind != "int":
            raise incompatible(col, lit, op)
        return lit.value
    if t in DECIMAL_TYPES:
        if lit.kind not in ("int", "decimal"):
            raise incompatible(col, lit, op)
        return Decimal(lit.value)
    if t == "DoubleType":
        if lit.kind not in ("int", "decimal"):
            raise incompatible(col, lit, op)
        return float(lit.value)
    if t == "BooleanType":
        if lit.kind != "bool":
            raise incompatible(col, lit, op)
        return lit.value
    if t == "DateTimeType":
        if lit.kind == "datetime":
            return lit.value.date() if col.date_only else lit.value
        if lit.kind == "date":
            return lit.value if col.date_only else datetime(lit.value.year, lit.value.month, lit.value.day, tzinfo=UTC)
        raise incompatible(col, lit, op)
    raise unsupported(f"Filtering on the {col.attribute_type} column '{col.prop}'")


def coerce_text(col: Column, text: str) -> Any:
    """Coerce a ``PropertyValues`` item (always text) to the column type."""
    t = col.type_name
    try:
        if t in INTEGER_TYPES:
            return int(text)
        if t in DECIMAL_TYPES:
            return Decimal(text)
        if t == "DoubleType":
            return float(text)
        if t == "BooleanType":
            return text.lower() == "true"
        if t == "DateTimeType":
            value = parse_datetime(text) if "T" in text else datetime.fromisoformat(text).replace(tzinfo=UTC)
            return value.date() if col.date_only else value
        if t in GUID_TYPES:
            return text.lower().strip("{}")
    except ValueError as exc:
        raise bad_request(f"The value '{text}' is not valid for the column '{col.prop}'.") from exc
    return text


def sort_value(col: Column | None, value: Any) -> Any:
    """A comparable form: case-insensitive strings, SQL Server order for GUIDs."""
    if value is None:
        return None
    if col is not None and col.type_name in GUID_TYPES:
        return sql_key(value)
    if isinstance(value, str):
        return value.casefold()
    return value
