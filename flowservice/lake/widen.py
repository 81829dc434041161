"""A column whose type the source widened (Dataverse: Integer → BigInt, a decimal's scale raised, a float
made double) is widened in the dataset in place: same rows, same values, the wider type.

delta-rs (1.6) cannot change a column's type in the log, so the table is rewritten once, streaming batch by
batch (memory: one batch), with the widened schema (``schema_mode="overwrite"``) in a commit of its own. That
commit carries no application transaction, so the engine's fence (a flow's transaction n+1 lands only on its
transaction n) and the cursors found by transaction are untouched; a crash after it leaves a widened table
whose next commit simply fits it. Casts are Arrow's safe casts: a value that would not fit fails the commit
(never a silent truncation). Only lossless widenings qualify; anything else stays refused by ``schema.evolve``.
"""

from __future__ import annotations

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake


def widened(target: pa.Schema, data: pa.Schema) -> pa.Schema | None:
    """``target`` with each column ``data`` widens losslessly, or None when none does."""
    arriving = {f.name: f for f in data}
    fields, changed = [], False
    for field in target:
        new = arriving.get(field.name)
        if new is not None and wider(field.type, new.type):
            fields.append(field.with_type(new.type))
            changed = True
        else:
            fields.append(field)
    return pa.schema(fields, metadata=target.metadata) if changed else None


def wider(old: pa.DataType, new: pa.DataType) -> bool:
    """Every value of ``old`` is a value of ``new``, and ``new`` is not the same type."""
    if pa.types.is_integer(old) and pa.types.is_integer(new):
        if pa.types.is_signed_integer(new):
            return bool(new.bit_width > old.bit_width)
        return bool(pa.types.is_unsigned_integer(old) and new.bit_width > old.bit_width)
    if pa.types.is_float32(old) and pa.types.is_float64(new):
        return True
    if pa.types.is_decimal(old) and pa.types.is_decimal(new):
        # more decimal places; the safe cast refuses a value whose integer digits no longer fit
        return bool(new.scale > old.scale and new.precision >= old.precision)
    return False


def rewrite(uri: str, table: DeltaTable, schema: pa.Schema, storage_options: dict[str, str] | None) -> None:
    """Rewrite ``table`` with ``schema`` (its own columns, some widened), one batch at a time."""
    source = table.to_pyarrow_dataset()
    batches = (batch.cast(schema) for batch in source.to_batches())
    write_deltalake(
        uri,
        pa.RecordBatchReader.from_batches(schema, batches),
        mode="overwrite",
        schema_mode="overwrite",
        storage_options=storage_options,
    )
