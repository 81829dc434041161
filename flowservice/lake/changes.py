"""Turn a batch of upserted rows plus deleted keys into what one Delta commit writes.

Merge mode builds one MERGE source holding both upserts and deletes (tagged by ``OP``), so a record
updated and deleted in the same batch can never lose its delete (a classic peer bug). Append mode adds
every change as a row with ``_change_type`` and ``_change_time``. Both are column-wise Arrow, no per-row
Python.
"""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.compute as pc

from flowservice.domain.errors import InvalidRequest

OP = "__flowservice_op"  # the MERGE source's tag column; never written to the table
CHANGE_TYPE = "_change_type"
CHANGE_TIME = "_change_time"
CHANGE_TIME_TYPE = pa.timestamp("us", tz="UTC")
_INDEX = "__flowservice_row"


def keys_array(deleted_keys: list[str], key_type: pa.DataType) -> pa.Array:
    """Deleted keys (text on the wire) as the key column's type, each once."""
    keys = pc.unique(pa.array(deleted_keys, pa.string()))
    try:
        return keys.cast(key_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidRequest(f"Deleted keys do not fit the primary key type {key_type}: {exc}") from exc


def check_keys(data: pa.Table, primary_key: str) -> None:
    if primary_key not in data.column_names:
        raise InvalidRequest(f"The batch has no primary key column {primary_key!r}.")
    if data.column(primary_key).null_count:
        raise InvalidRequest(f"The batch has rows without a primary key ({primary_key!r} is null).")


def last_per_key(data: pa.Table, primary_key: str) -> pa.Table:
    """Keep the last occurrence of each key, in batch order: later rows are newer versions."""
    if data.num_rows < 2:
        return data
    keys = data.column(primary_key)
    if pc.count_distinct(keys).as_py() == data.num_rows:
        return data
    indexed = data.select([primary_key]).append_column(_INDEX, pa.array(range(data.num_rows), pa.int64()))
    last = indexed.group_by(primary_key, use_threads=False).aggregate([(_INDEX, "max")])
    rows = last.column(f"{_INDEX}_max")
    return data.take(rows.take(pc.sort_indices(rows)))


def without_keys(data: pa.Table, primary_key: str, keys: pa.Array) -> pa.Table:
    if len(keys) == 0 or data.num_rows == 0:
        return data
    return data.filter(pc.invert(pc.is_in(data.column(primary_key), value_set=keys)))


def key_rows(schema: pa.Schema, primary_key: str, keys: pa.Array) -> pa.Table:
    """Rows holding only the key, every other column null: how a delete looks in a table of rows."""
    arrays = [keys if f.name == primary_key else pa.nulls(len(keys), f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def upserts(rows: pa.Table, primary_key: str, deletes: pa.Array) -> pa.Table:
    """The rows a merge upserts: each key once (its last occurrence), none that is also deleted."""
    return without_keys(last_per_key(rows, primary_key), primary_key, deletes)


def merge_source(upserts: pa.Table, primary_key: str, deletes: pa.Array) -> pa.Table:
    """One MERGE source from ``upserts()`` and the deleted keys, each row tagged ``upsert`` or ``delete``."""
    removed = key_rows(upserts.schema, primary_key, deletes)
    source = pa.concat_tables([upserts, removed])
    ops = pa.concat_arrays([_repeat("upsert", upserts.num_rows), _repeat("delete", len(deletes))])
    return source.append_column(pa.field(OP, pa.string()), ops)


def change_rows(upserts: pa.Table, primary_key: str, deletes: pa.Array, change_time: int | None) -> pa.Table:
    """Append mode: every upsert row, then one key-only row per delete, all stamped with the same time."""
    upserts = upserts.drop_columns([c for c in (CHANGE_TYPE, CHANGE_TIME) if c in upserts.column_names])
    rows = pa.concat_tables([upserts, key_rows(upserts.schema, primary_key, deletes)])
    kinds = pa.concat_arrays([_repeat("upsert", upserts.num_rows), _repeat("delete", len(deletes))])
    millis = change_time if change_time is not None else time.time_ns() // 1_000_000
    when = pa.repeat(pa.scalar(millis * 1000, CHANGE_TIME_TYPE), rows.num_rows)
    rows = rows.append_column(pa.field(CHANGE_TYPE, pa.string()), kinds)
    return rows.append_column(pa.field(CHANGE_TIME, CHANGE_TIME_TYPE), when)


def _repeat(text: str, count: int) -> pa.Array:
    return pa.repeat(pa.scalar(text, pa.string()), count)
