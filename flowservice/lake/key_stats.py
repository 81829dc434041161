"""Statistics for the key column in the Delta log, wherever the key lands in the table's schema.

delta-rs writes a file's min/max statistics for the first 32 leaf columns only (``delta.dataSkippingNumIndexedCols``
defaults to 32). The lake decides from the key's ranges in the log whether a merge batch can meet a file at all
(``key_check._log_ranges_meet``); a key beyond column 32 — a mapping is free to put it anywhere in a 150-column
``account`` — has no ranges, so every merge would scan the key column of every file. Such a table is given
``delta.dataSkippingStatsColumns``: the top-level columns among the first 32 leaves (what it would have had
statistics for anyway), and the key.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

INDEXED_BY_DEFAULT = 32
STATS_COLUMNS = "delta.dataSkippingStatsColumns"
NUM_INDEXED_COLUMNS = "delta.dataSkippingNumIndexedCols"


def configuration(schema: pa.Schema, primary_key: str) -> dict[str, str]:
    """The table properties that give ``primary_key`` statistics: none when the default already does."""
    if _leaf_position(schema, primary_key) < INDEXED_BY_DEFAULT:
        return {}
    names, leaves = [], 0
    for field in schema:
        leaves += _leaves(field.type)
        if leaves > INDEXED_BY_DEFAULT:
            break
        names.append(field.name)
    return {STATS_COLUMNS: ",".join(_quote(name) for name in [*names, primary_key])}


def has_stats(properties: Mapping[str, str | None], schema: pa.Schema, primary_key: str) -> bool:
    """Whether files written to a table with these ``properties`` and ``schema`` get statistics for the key."""
    listed = properties.get(STATS_COLUMNS)
    if listed is not None:
        return primary_key in _unquote_list(listed)
    try:
        indexed = int(properties.get(NUM_INDEXED_COLUMNS) or INDEXED_BY_DEFAULT)
    except ValueError:
        return True  # a setting we do not understand: leave the table as it is
    return indexed < 0 or _leaf_position(schema, primary_key) < indexed


def _leaf_position(schema: pa.Schema, name: str) -> int:
    position = 0
    for field in schema:
        if field.name == name:
            return position
        position += _leaves(field.type)
    return position


def _leaves(data_type: pa.DataType) -> int:
    if pa.types.is_struct(data_type):
        return sum(_leaves(data_type.field(i).type) for i in range(data_type.num_fields))
    return 1


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _unquote_list(listed: str) -> list[str]:
    """``a,`b c`,`d``e``` → ``["a", "b c", "d`e"]`` (delta-rs's syntax: backticks, doubled inside)."""
    names, current, quoted, i = [], "", False, 0
    while i < len(listed):
        char = listed[i]
        if quoted and char == "`" and listed[i + 1 : i + 2] == "`":
            current, i = current + "`", i + 2
            continue
        if char == "`":
            quoted = not quoted
        elif char == "," and not quoted:
            names.append(current.strip())
            current = ""
        else:
            current += char
        i += 1
    names.append(current.strip())
    return names
