"""How column values look on the wire: JSON literals and ``FormattedValue`` strings (reference §3.5, §4.3)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

from crm_emulator.schema import DECIMAL_TYPES, Column

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$"}


def json_value(col: Column, value: Any) -> bytes:
    """The JSON literal of a value: money with four decimals, decimals with their precision, dates per behaviour."""
    if value is None:
        return b"null"
    t = col.type_name
    if t in DECIMAL_TYPES:
        scale = 4 if t == "MoneyType" else (col.precision or 2)
        return format(Decimal(value), f".{scale}f").encode()
    if t == "DateTimeType":
        if col.date_only:
            d = value.date() if isinstance(value, datetime) else value
            return b'"' + d.isoformat().encode() + b'"'
        stamp: str = value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return b'"' + stamp.encode() + b'"'
    return orjson.dumps(value)


def _datetime_text(value: datetime | date, with_time: bool) -> str:
    text = f"{value.month}/{value.day}/{value.year}"
    if with_time and isinstance(value, datetime):
        hour = value.hour % 12 or 12
        text += f" {hour}:{value.minute:02d} {'AM' if value.hour < 12 else 'PM'}"
    return text


def formatted_value(col: Column, value: Any, currency: str | None = None) -> str | None:
    """The ``OData.Community.Display.V1.FormattedValue`` of a non-lookup value, or None when there is none.

    Dates are formatted in UTC (the emulated users' time zone), US English culture.
    """
    if value is None:
        return None
    t = col.type_name
    if t in ("PicklistType", "StateType", "StatusType"):
        return col.option_label(int(value))
    if t == "MultiSelectPicklistType":
        labels = [col.option_label(int(v)) for v in str(value).split(",") if v]
        return "; ".join(label for label in labels if label)
    if t == "BooleanType":
        return col.true_label if value else col.false_label
    if t == "MoneyType":
        symbol = CURRENCY_SYMBOLS.get(currency or "USD", "$")
        amount = Decimal(value)
        sign = "-" if amount < 0 else ""
        return f"{sign}{symbol}{abs(amount):,.2f}"
    if t in ("IntegerType", "BigIntType"):
        return f"{int(value):,}"
    if t == "DecimalType":
        return f"{Decimal(value):,.{col.precision or 2}f}"
    if t == "DoubleType":
        return f"{float(value):,.{col.precision or 2}f}"
    if t == "DateTimeType":
        return _datetime_text(value, with_time=not col.date_only and col.format != "DateOnly")
    return None
