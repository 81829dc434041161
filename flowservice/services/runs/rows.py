"""Row checks of a page before it is mapped: rows without a key become row errors, and in append mode the
rows a watermark read repeats (its lower bound is inclusive) are dropped when the dataset holds them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from flowservice.ports import Lake, RunErrors
from flowservice.services.runs.context import Counters

MAX_ERRORS_KEPT = 1000
REJECTED_PER_PAGE = 20  # rows of one page kept as row errors


def drop_rows_without_key(
    errors: RunErrors, run_id: str, counters: Counters, batch: pa.RecordBatch, pk: str
) -> pa.RecordBatch:
    """The rows that have a key; the others are counted failed and kept as row errors."""
    missing = pc.is_null(batch.column(pk))
    bad = pc.sum(missing).as_py() or 0
    if not bad:
        return batch
    counters.failed += bad
    rejected = batch.filter(missing).slice(0, REJECTED_PER_PAGE).to_pylist()
    errors.add_errors(
        run_id,
        [("INGEST-1201-400", f"The record has no value for the primary key '{pk}'.", _json(row)) for row in rejected],
        MAX_ERRORS_KEPT,
    )
    return batch.filter(pc.invert(missing))


def drop_already_landed(
    lake: Lake,
    table_path: str,
    batch: pa.RecordBatch,
    pk: str,
    delta: str,
    out_pk: str,
    out_delta: str,
    overlap: str,
) -> pa.RecordBatch:
    """Append mode, watermark increments: the inclusive lower bound re-reads rows at the watermark; drop
    those whose (key, delta value) the dataset already holds, so a version is never appended twice.
    Values compare as epoch microseconds, exact on both sides."""
    delta_type = batch.schema.field(delta).type
    bound = pa.scalar(dt.datetime.fromisoformat(overlap.replace("Z", "+00:00")), delta_type)
    in_overlap = pc.fill_null(pc.less_equal(batch.column(delta), bound), False)
    if not (pc.sum(in_overlap).as_py() or 0) or not lake.stats(table_path):
        return batch
    earliest = pc.min(pc.filter(batch.column(delta), in_overlap)).cast(pa.int64()).as_py()
    key, stamp = _ident(out_pk), _ident(out_delta)
    landed = lake.query(
        f"SELECT CAST({key} AS VARCHAR) AS k, epoch_us({stamp}) AS d FROM t "  # noqa: S608 - quoted names
        f"WHERE epoch_us({stamp}) >= {int(earliest)}",
        {"t": table_path},
    )
    seen = set(zip(landed.column("k").to_pylist(), landed.column("d").to_pylist(), strict=True))
    if not seen:
        return batch
    keys = [str(k) for k in batch.column(pk).to_pylist()]
    stamps = pc.cast(batch.column(delta), pa.int64()).to_pylist()
    keep = [(k, s) not in seen for k, s in zip(keys, stamps, strict=True)]
    return batch.filter(pa.array(keep))


def _ident(name: str) -> str:
    """A DuckDB identifier, quoted (mapping destinations are user input)."""
    return '"' + name.replace('"', '""') + '"'


def _json(row: dict[str, Any]) -> str:
    return orjson.dumps(row, default=str).decode()
