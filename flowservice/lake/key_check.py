"""Whether a table holds any of a batch's keys: the question each merge asks before it may append instead.

The answer is "no" at once when no file's key range in the Delta log meets the batch's, or when the index of the
table's keys (``key_index.py``) finds none of them; otherwise the key column of the files whose range meets the
batch's is read, one file at a time. An index or a range that cannot tell always sends the batch down the exact
path, so a wrong "no" is impossible; a wrong "yes" only costs a MERGE (``delta.DeltaLake._merge``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from flowservice.lake.key_index import KeyIndex, KeyIndexes, fingerprints
from flowservice.lake.schema import plain

if TYPE_CHECKING:  # imported where a key lookup reads files: a first load never does, and saves its ~30 MB
    import pyarrow.dataset as pads


def holds_any(table: DeltaTable, primary_key: str, keys: pa.Array, indexes: KeyIndexes, uri: str) -> bool:
    """Whether any of ``keys`` is in ``table`` (at ``uri``; ``indexes`` keeps the index of its keys)."""
    if len(keys) == 0 or not _log_ranges_meet(table, primary_key, keys):
        return False
    limit = indexes.max_keys
    index = indexes.at(uri, primary_key, table.version(), lambda: _index_of(table, primary_key, limit))
    if index is not None and not index.may_hold_any(fingerprints(keys.cast(_key_type(table, primary_key)))):
        return False
    return _scan_holds_any(table, primary_key, keys)


def _index_of(table: DeltaTable, primary_key: str, max_keys: int) -> KeyIndex | None:
    """The index of every key in ``table`` (read one file's batches at a time), or None for a table of more than
    ``max_keys`` rows or one whose log does not count them."""
    counts = pa.table(table.get_add_actions(flatten=True)).column("num_records")
    if counts.null_count or (pc.sum(counts).as_py() or 0) > max_keys:
        return None
    key_type = _key_type(table, primary_key)
    batches = table.to_pyarrow_dataset().to_batches(columns=[primary_key])
    return KeyIndex.of(primary_key, table.version(), [fingerprints(b.column(0).cast(key_type)) for b in batches])


def _key_type(table: DeltaTable, primary_key: str) -> pa.DataType:
    return plain(pa.schema(table.schema().to_arrow()).field(primary_key).type)


def _scan_holds_any(table: DeltaTable, primary_key: str, keys: pa.Array) -> bool:
    """Whether any of ``keys`` is in the table, reading only the key column of the files whose range meets
    ``keys``' range, one after the other (memory: one file's key column)."""
    import pyarrow.dataset as pads

    dataset = table.to_pyarrow_dataset()
    key_type = plain(dataset.schema.field(primary_key).type)
    keys = keys.cast(key_type)
    # delta-rs's MERGE writes text as string_view, whose Parquet statistics pyarrow cannot compare with plain
    # strings; comparing the cast column stays correct for files from either writer.
    key = pads.field(primary_key).cast(key_type)
    for fragment in _files_in_range(dataset, primary_key, keys):
        scanner = fragment.scanner(schema=dataset.schema, columns=[primary_key], filter=key.isin(keys))
        if any(batch.num_rows for batch in scanner.to_batches()):
            return True
    return False


def _log_ranges_meet(table: DeltaTable, primary_key: str, keys: pa.Array) -> bool:
    """Whether some file's ``[min, max]`` of the key, from the log's statistics, meets ``keys``' range (True
    for a file without statistics, and when the ranges cannot be compared)."""
    files = pa.table(table.get_add_actions(flatten=True))
    if files.num_rows == 0:
        return False
    low_name, high_name = f"min.{primary_key}", f"max.{primary_key}"
    if low_name not in files.column_names or high_name not in files.column_names:
        return True
    lows, highs = files.column(low_name), files.column(high_name)
    try:
        low, high = (bound.cast(lows.type) for bound in pc.min_max(keys.cast(plain(keys.type))).values())
        apart = pc.or_(pc.less(highs, low), pc.greater(lows, high))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return True
    return bool(pc.any(pc.invert(pc.fill_null(apart, False))).as_py())


def _files_in_range(dataset: pads.FileSystemDataset, primary_key: str, keys: pa.Array) -> list[pads.Fragment]:
    """The files whose key range in the Delta log (a file's guarantee, typed like the table, so comparable
    whatever type the file itself was written with) meets ``keys``' range; every file if that cannot be told."""
    import pyarrow.dataset as pads

    low, high = pc.min_max(keys).values()
    key_type = dataset.schema.field(primary_key).type
    field = pads.field(primary_key)
    try:
        return list(dataset.get_fragments(filter=(field >= low.cast(key_type)) & (field <= high.cast(key_type))))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        return list(dataset.get_fragments())
