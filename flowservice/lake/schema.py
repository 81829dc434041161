"""Schema evolution: fit an incoming batch to the table without ever dropping a column or a row.

A source's schema changes over time (a column is added in Dynamics, a flow selects fewer columns). The
table keeps the union: new columns are added, missing ones are written as nulls. Types are compared as
Delta types (``string`` and ``large_string`` are the same Delta ``string``); only lossless integer and float
widening is accepted, because a silent cast (text to number, timestamp to date) would corrupt data.
"""

from __future__ import annotations

import pyarrow as pa
from deltalake import Schema as DeltaSchema

from flowservice.domain.errors import InvalidRequest


def delta_type(field: pa.Field) -> str:
    """The Delta type a field is stored as: ``string``, ``decimal(19,4)``, ``timestamp``, or JSON if nested."""
    (delta_field,) = DeltaSchema.from_arrow(pa.schema([field])).fields
    text: str = delta_field.type.to_json()  # '"string"' for primitives, a JSON object for nested types
    return text[1:-1] if text.startswith('"') else text


def plain(t: pa.DataType) -> pa.DataType:
    """View types written to Parquet come back with statistics pyarrow cannot compare against plain values
    (a key lookup then fails); the lake stores the plain ``string``/``binary`` types."""
    if pa.types.is_string_view(t) or pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_binary_view(t) or pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(plain(f.type)) for f in t])
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.list_(t.value_field.with_type(plain(t.value_type)))
    return t


def nullable(schema: pa.Schema) -> pa.Schema:
    """Every lake column accepts nulls: delete markers hold only the key, and old rows lack new columns."""
    return pa.schema([f.with_nullable(True).with_type(plain(f.type)) for f in schema], metadata=schema.metadata)


def evolve(target: pa.Schema | None, data: pa.Table) -> pa.Table:
    """``data`` recast to the table's columns (in table order) followed by its new columns.

    Raises ``InvalidRequest`` when a column changes type in a way that could lose or change values.
    """
    if target is None:
        _reject_untyped(data.schema)
        return data.cast(nullable(data.schema))
    columns: dict[str, pa.ChunkedArray] = {}
    fields: list[pa.Field] = []
    arriving = {f.name: f for f in data.schema}  # (a Table's column_names is a new list at every access)
    for field in nullable(target):
        found = arriving.get(field.name)
        if found is not None:
            column = data.column(field.name)
            if column.type != field.type:
                _check_compatible(field, found)
                column = column.cast(field.type)
            columns[field.name] = column
        else:
            columns[field.name] = pa.chunked_array([pa.nulls(data.num_rows, field.type)])
        fields.append(field.with_nullable(True))
    known = set(target.names)
    new = [f for f in data.schema if f.name not in known]
    _reject_untyped(pa.schema(new))
    for field in nullable(pa.schema(new)):
        column = data.column(field.name)
        columns[field.name] = column if column.type == field.type else column.cast(field.type)
        fields.append(field)
    return pa.Table.from_arrays(list(columns.values()), schema=pa.schema(fields))


def _check_compatible(table_field: pa.Field, data_field: pa.Field) -> None:
    old, new = table_field.type, data_field.type
    if pa.types.is_null(new) or delta_type(table_field) == delta_type(data_field):
        return
    if pa.types.is_integer(old) and pa.types.is_integer(new) and new.bit_width < old.bit_width:
        if pa.types.is_signed_integer(old) or pa.types.is_unsigned_integer(new):
            return
    if pa.types.is_float64(old) and pa.types.is_floating(new):
        return
    raise InvalidRequest(
        f"Column {data_field.name!r} is stored as {delta_type(table_field)} in the dataset but arrives as "
        f"{delta_type(data_field)}; a column's type cannot change. Map it to a new column instead."
    )


def _reject_untyped(schema: pa.Schema) -> None:
    untyped = [f.name for f in schema if pa.types.is_null(f.type)]
    if untyped:
        raise InvalidRequest(f"Columns without a type cannot be added to a dataset: {', '.join(untyped)}.")
