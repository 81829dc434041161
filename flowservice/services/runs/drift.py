"""Schema drift seen by a run: the columns a run lands against the columns its dataset already has.

A column added in the source (the source describes it from fresh metadata at each run) arrives as a new
column: the lake adds it, rows landed before read null in it until they are read again. A column the source
no longer has (deleted in the org, or no longer selected) stays in the dataset, nullable, and rows written from
now on hold null in it. A numeric type the source widened (Integer → BigInt, more decimal places) is widened
in the dataset in place by the lake (``lake/widen.py``); another type change fails the run with the lake's
message naming the column. Each change is said once: the columns already
reported gone travel in the commit's metadata (``gone_columns``), and an added column is in the dataset after
the run that added it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

#: columns the lake adds itself (append mode), never a source's
_LAKE_COLUMNS = frozenset({"_change_type", "_change_time"})


def schema_changes(
    dataset_columns: Iterable[Mapping[str, Any]] | None, landing: pa.Schema, reported_gone: Iterable[str]
) -> tuple[list[dict[str, str]], list[str]]:
    """``(changes, gone)``: each change ``{"column", "change": "added"|"widened"|"gone", "type"?, "from"?}`` not
    reported before (a widening is in the dataset after the run that made it),
    and every dataset column the run does not land (to carry in the commit)."""
    if dataset_columns is None:
        return [], []
    existing = [str(c["name"]) for c in dataset_columns]
    stored = {str(c["name"]): str(c.get("type")) for c in dataset_columns}
    known = set(existing)
    landed = set(landing.names)
    changes = [{"column": f.name, "change": "added", "type": str(f.type)} for f in landing if f.name not in known]
    changes += [
        {"column": f.name, "change": "widened", "from": stored[f.name], "type": str(f.type)}
        for f in landing
        if f.name in known and _widens(stored[f.name], f.type)
    ]
    gone = [name for name in existing if name not in landed and name not in _LAKE_COLUMNS]
    before = set(reported_gone)
    changes += [{"column": name, "change": "gone"} for name in gone if name not in before]
    return changes, gone


#: the Delta names of the numeric types the lake widens in place (``lake/widen.py``), narrowest first
_INTEGERS = {"byte": 8, "short": 16, "integer": 32, "long": 64}


def _widens(stored: str, arriving: pa.DataType) -> bool:
    """``arriving`` is a wider type than the dataset's column (a Delta type name) that the lake widens."""
    if pa.types.is_signed_integer(arriving) and stored in _INTEGERS:
        return bool(arriving.bit_width > _INTEGERS[stored])
    if pa.types.is_float64(arriving):
        return stored == "float"
    if pa.types.is_decimal(arriving) and stored.startswith("decimal("):
        scale = int(stored.rstrip(")").split(",")[-1])
        return bool(arriving.scale > scale)
    return False


def drift_note(changes: list[dict[str, str]]) -> dict[str, str]:
    """The run's note naming the columns (their names only, as the identity note does)."""
    added = [c["column"] for c in changes if c["change"] == "added"]
    gone = [c["column"] for c in changes if c["change"] == "gone"]
    widened = [f"{c['column']} ({c['from']} to {c['type']})" for c in changes if c["change"] == "widened"]
    parts = []
    if added:
        parts.append(
            f"new column(s) {', '.join(added)} added to the dataset (rows landed before hold null there until "
            "they are read again)"
        )
    if widened:
        parts.append(f"column(s) {', '.join(widened)} widened in place (every row kept, values unchanged)")
    if gone:
        parts.append(
            f"column(s) {', '.join(gone)} no longer read from the source (kept in the dataset; rows written from "
            "now on hold null there)"
        )
    return {
        "code": "CONNECTOR-3004-200",
        "message": f"The columns landed changed since the dataset was last written: {'; '.join(parts)}.",
    }
