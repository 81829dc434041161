"""``cr6f1_widerecord``: a custom table with 1,200 custom columns (``--wide-table``, off by default).

Real orgs grow tables this wide (Dataverse allows about 1,000 columns of the common types per table, more of
narrow ones). The column names are long, as custom columns' names are, so that a ``$select`` of every column
makes a URL of about 37,000 characters: more than the 32 KB a ``GET`` may have, less than the 64 KB a ``GET``
inside ``$batch`` may have (reference §1.1). Values are a pure function of the row index and column number.
"""

from __future__ import annotations

from typing import Any

from crm_emulator.columns import boolean, decimal, integer, primary_key, standard, string, with_helpers
from crm_emulator.ids import mix64
from crm_emulator.rows import Org, ts_text
from crm_emulator.schema import Column, Table

WIDE_TABLE = "cr6f1_widerecord"
WIDE_COLUMNS = 1200
#: Kinds of the wide columns, in turn: text, whole number, decimal, yes/no.
KINDS = ("text", "number", "decimal", "flag")


def wide_column_name(n: int) -> str:
    return f"cr6f1_{KINDS[n % len(KINDS)]}measurementattribute{n:04d}"


def _wide_column(n: int) -> Column:
    name, kind = wide_column_name(n), KINDS[n % len(KINDS)]
    if kind == "text":
        return string(name, 40, custom=True)
    if kind == "number":
        return integer(name, 0, 1_000_000, custom=True)
    if kind == "decimal":
        return decimal(name, 2, 0, 100_000, custom=True)
    return boolean(name, custom=True)


def wide_table() -> Table:
    cols = [
        primary_key(f"{WIDE_TABLE}id"),
        string("cr6f1_name", 100, primary_name=True, custom=True),
        *[_wide_column(n) for n in range(WIDE_COLUMNS)],
        *standard(owned=False)[:8],
    ]
    return Table(
        WIDE_TABLE,
        "cr6f1_widerecords",
        "Wide Record",
        "Wide Records",
        f"{WIDE_TABLE}id",
        "cr6f1_name",
        10300,
        with_helpers(cols),
        custom=True,
        ownership="OrganizationOwned",
        description="A table with 1,200 custom columns.",
        has_rows=True,
    )


def wide_value(i: int, n: int, h: int) -> Any:
    """Row ``i``'s value of wide column ``n``; every seventh is null (a sparse table, as wide ones are)."""
    v = mix64(h ^ (n * 0x9E3779B97F4A7C15))
    if v % 7 == 0:
        return None
    kind = KINDS[n % len(KINDS)]
    if kind == "text":
        return f"r{i}c{n}-{v % 100000:05d}"
    if kind == "number":
        return int(v % 1_000_000)
    if kind == "decimal":
        return (v % 10_000_000) / 100
    return bool(v & 1)


def wide_row(i: int, h: int, org: Org) -> dict[str, Any]:
    created = 86400 * 30 + 3600 * i
    out: dict[str, Any] = {"cr6f1_name": f"Wide record {i:05d}"}
    out.update((wide_column_name(n), wide_value(i, n, h)) for n in range(WIDE_COLUMNS))
    out.update(
        {
            "_createdby_value": org.ref("systemuser", 0),
            "_modifiedby_value": org.ref("systemuser", 0),
            "createdon": ts_text(created),
            "modifiedon": ts_text(created + (h >> 40) % 3600),
            "versionnumber": org.version(WIDE_TABLE, i, h),
        }
    )
    return out
