"""Apply a mapping set to Arrow data, column-wise.

``compile_mapping`` binds a parsed ``MappingSet`` to a source schema and returns a callable that turns each
record batch into the output table. Every mapping is evaluated with ``pyarrow.compute`` over whole columns:
nothing here loops over rows in Python, so a page of 100k rows costs a handful of vectorised kernels.

Compilation runs the mapping once over an empty batch of the source schema. That one dry run type-checks
every expression (a ``lower()`` of a number, a literal that cannot be compared with a timestamp column…) and
yields the exact output schema, so ``output_schema`` needs no data and can size a dataset before the first
run. Values that cannot be converted at run time (an unparseable date) become nulls rather than failing the
whole batch.

Typing rules the evaluator follows (also in ``docs/mapping.md``):

* literals: integers are int64, decimals float64, strings utf8, ``null`` has no type until combined;
* operands that must agree (comparison sides, ``iif`` branches, ``coalesce`` arguments) are brought to one
  type: the same type if they already agree, int64/float64 for numbers, UTC timestamps for dates and
  times, text when any column operand is text, otherwise the type of the first column operand; literals are
  converted to that type when the mapping is compiled;
* a result that is all-null of no type (``STATIC`` null) lands as a nullable utf8 column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from flowservice.domain.expressions import (
    BinaryOp,
    Call,
    ColumnRef,
    Expr,
    ExpressionError,
    Literal,
    MappingError,
    UnaryOp,
    strptime_format,
)
from flowservice.domain.mapping import Mapping, MappingSet, SourceType

Value: TypeAlias = pa.Array | pa.Scalar

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

_COMPARE = {
    "==": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}


# ------------------------------------------------------------------------------------------- typing


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _is_number(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def _is_temporal(t: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(t) or pa.types.is_date(t))


def _type_name(t: pa.DataType) -> str:
    return "null" if pa.types.is_null(t) else str(t)


def _parse_iso_timestamps(text: pa.Array) -> pa.Array:
    """ISO 8601 text → UTC timestamps, vectorised; anything unreadable becomes null.

    Arrow's ``strptime`` reads neither fractional seconds nor ``+02:00`` offsets, and its cast fails a whole
    batch on one bad value; so the text is normalised with regular expressions (space → ``T``, fraction cut
    out and added back as a duration, ``+hh:mm`` → ``+hhmm``) and the forms are tried in turn.
    """
    s = pc.utf8_trim_whitespace(text)
    s = pc.replace_substring_regex(s, r"^(\d{4}-\d{2}-\d{2}) ", r"\1T")
    fraction = pc.struct_field(pc.extract_regex(s, r"\.(?P<f>\d{1,9})"), [0])
    micros = pc.cast(pc.utf8_slice_codeunits(pc.utf8_rpad(fraction, width=6, padding="0"), 0, 6), pa.int64())
    s = pc.replace_substring_regex(s, r"\.\d{1,9}", "")
    s = pc.replace_substring_regex(s, r"([+-]\d{2}):(\d{2})$", r"\1\2")
    with_zone = pc.strptime(s, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True)
    naive = pc.strptime(s, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True)
    date_only = pc.strptime(s, format="%Y-%m-%d", unit="us", error_is_null=True)
    parsed = pc.coalesce(
        pc.cast(with_zone, UTC_TIMESTAMP), pc.cast(naive, UTC_TIMESTAMP), pc.cast(date_only, UTC_TIMESTAMP)
    )
    return pc.add(parsed, pc.cast(pc.fill_null(micros, 0), pa.duration("us")))


def _to_utc_timestamp(value: Value, fmt: str | None, pos: int) -> Value:
    t = value.type
    if pa.types.is_null(t):
        return pa.scalar(None, UTC_TIMESTAMP)
    if _is_temporal(t):
        return pc.cast(value, UTC_TIMESTAMP)  # naive timestamps and dates are taken as UTC
    if not _is_text(t):
        raise ExpressionError(f"to_timestamp() expects text, a date or a timestamp, got {_type_name(t)}", pos)
    scalar = isinstance(value, pa.Scalar)
    arr = pa.array([value.as_py()], pa.string()) if scalar else value
    if fmt is None:
        out = _parse_iso_timestamps(arr)
    else:
        out = pc.cast(pc.strptime(arr, format=fmt, unit="us", error_is_null=True), UTC_TIMESTAMP)
    return out[0] if scalar else out


def _to_text(value: Value) -> Value:
    """Text in the form a person (and ISO 8601) expects: ``2024-01-02T03:04:05Z``, ``true``, ``1.5``."""
    t = value.type
    if _is_text(t):
        return value if t == pa.string() else pc.cast(value, pa.string())  # one text type for the kernels
    if pa.types.is_timestamp(t):
        text = pc.strftime(value, format="%Y-%m-%dT%H:%M:%S")
        text = pc.replace_substring_regex(text, r"\.0+$", "")
        return pc.binary_join_element_wise(text, "Z", "") if t.tz is not None else text
    if pa.types.is_date(t):
        return pc.strftime(value, format="%Y-%m-%d")
    return pc.cast(value, pa.string())


def _cast(value: Value, target: pa.DataType, what: str, pos: int) -> Value:
    if value.type == target:
        return value
    if isinstance(value, pa.Scalar) and _is_text(value.type) and pa.types.is_timestamp(target):
        parsed = _to_utc_timestamp(value, None, pos)
        if not value.is_valid or parsed.is_valid:
            return pc.cast(parsed, target)
        raise ExpressionError(f"{what}: {value.as_py()!r} is not an ISO 8601 date or time", pos)
    if _is_text(target):
        return _to_text(value)
    try:
        if _is_number(value.type) and _is_number(target):
            return pc.cast(value, target, safe=False)
        return pc.cast(value, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        shown = repr(value.as_py()) if isinstance(value, pa.Scalar) else _type_name(value.type)
        raise ExpressionError(f"{what}: cannot convert {shown} to {_type_name(target)}", pos) from None


def _unify(values: Sequence[Value], what: str, pos: int) -> list[Value]:
    """Bring operands to one type (see the module docstring for the rules)."""
    typed = [v for v in values if not pa.types.is_null(v.type)]
    columns = [v.type for v in typed if isinstance(v, pa.Array)]
    types = [v.type for v in typed]
    if not types:
        return list(values)
    target: pa.DataType
    if all(t == types[0] for t in types):
        target = types[0]
    elif all(_is_number(t) for t in types):
        exact = all(pa.types.is_integer(t) for t in types)
        target = pa.int64() if exact else pa.float64()
    elif all(_is_temporal(t) for t in types):
        target = UTC_TIMESTAMP
    elif columns and all(t == columns[0] for t in columns):
        target = columns[0]  # literals follow the column they meet
    elif any(_is_text(t) for t in columns) or (not columns and any(_is_text(t) for t in types)):
        target = pa.string()
    else:
        raise ExpressionError(f"{what}: incompatible types {', '.join(_type_name(t) for t in types)}", pos)
    return [_cast(v, target, what, pos) for v in values]


def _require(value: Value, check: Any, expected: str, what: str, pos: int) -> Value:
    if pa.types.is_null(value.type):
        return value
    if not check(value.type):
        raise ExpressionError(f"{what} expects {expected}, got {_type_name(value.type)}", pos)
    return value


def _boolean(value: Value, what: str, pos: int) -> Value:
    value = _require(value, pa.types.is_boolean, "a boolean", what, pos)
    return pc.cast(value, pa.bool_()) if pa.types.is_null(value.type) else value


def _text(value: Value, what: str, pos: int) -> Value:
    value = _require(value, _is_text, "text (use to_string() to convert)", what, pos)
    return pc.cast(value, pa.string()) if value.type != pa.string() else value


# ----------------------------------------------------------------------------------------- evaluation


def _literal(value: Any) -> pa.Scalar:
    if isinstance(value, bool):
        return pa.scalar(value, pa.bool_())
    if isinstance(value, int):
        return pa.scalar(value, pa.int64())
    if isinstance(value, float):
        return pa.scalar(value, pa.float64())
    if isinstance(value, str):
        return pa.scalar(value, pa.string())
    return pa.scalar(None)


def _call(expr: Call, args: list[Value]) -> Value:
    name, pos = expr.function, expr.pos
    what = f"{name}()"
    if name == "concat":
        return pc.binary_join_element_wise(*[_to_text(a) for a in args], "")
    if name == "lower":
        return pc.utf8_lower(_text(args[0], what, pos))
    if name == "upper":
        return pc.utf8_upper(_text(args[0], what, pos))
    if name == "trim":
        return pc.utf8_trim_whitespace(_text(args[0], what, pos))
    if name == "substr":
        start, length = args[1].as_py(), args[2].as_py()
        return pc.utf8_slice_codeunits(_text(args[0], what, pos), start, start + length)
    if name == "to_string":
        return _to_text(args[0])
    if name == "to_timestamp":
        fmt = strptime_format(args[1].as_py()) if len(args) == 2 else None
        return _to_utc_timestamp(args[0], fmt, pos)
    if name == "iif":
        condition = pc.fill_null(_boolean(args[0], what, pos), False)  # unknown → the else branch
        then, otherwise = _unify(args[1:], what, pos)
        if pa.types.is_null(then.type):
            then, otherwise = pc.cast(then, pa.string()), pc.cast(otherwise, pa.string())
        return pc.if_else(condition, then, otherwise)
    if name == "coalesce":
        unified = _unify(args, what, pos)
        return unified[0] if len(unified) == 1 else pc.coalesce(*unified)
    if name == "is_null":
        return pc.is_null(args[0])
    if name == "is_not_null":
        return pc.is_valid(args[0])
    raise ExpressionError(f"unknown function {name!r}", pos)  # the parser already rejects these


def _evaluate(expr: Expr, columns: dict[str, pa.Array]) -> Value:
    """Evaluate ``expr`` over whole columns. Literals stay scalars; the kernels broadcast them."""
    if isinstance(expr, Literal):
        return _literal(expr.value)
    if isinstance(expr, ColumnRef):
        column = columns[expr.name]
        # string_view lacks comparison kernels; inside expressions all text is plain utf8.
        return pc.cast(column, pa.string()) if pa.types.is_string_view(column.type) else column
    if isinstance(expr, Call):
        return _call(expr, [_evaluate(a, columns) for a in expr.args])
    if isinstance(expr, UnaryOp):
        operand = _evaluate(expr.operand, columns)
        if expr.op == "!":
            return pc.invert(_boolean(operand, "!", expr.pos))
        _require(operand, _is_number, "a number", "unary -", expr.pos)
        return pc.negate(pc.cast(operand, pa.int64()) if pa.types.is_null(operand.type) else operand)
    if isinstance(expr, BinaryOp):
        left, right = _evaluate(expr.left, columns), _evaluate(expr.right, columns)
        if expr.op in ("&&", "||"):
            left, right = _boolean(left, expr.op, expr.pos), _boolean(right, expr.op, expr.pos)
            return (pc.and_kleene if expr.op == "&&" else pc.or_kleene)(left, right)
        left, right = _unify([left, right], expr.op, expr.pos)
        if pa.types.is_null(left.type):
            return pa.scalar(None, pa.bool_())
        try:
            return _COMPARE[expr.op](left, right)
        except pa.ArrowNotImplementedError:
            raise ExpressionError(f"{expr.op} cannot compare {_type_name(left.type)} values", expr.pos) from None
    raise TypeError(f"not an expression node: {expr!r}")


# ------------------------------------------------------------------------------------------ structure


@dataclass
class _Node:
    """One output field: a leaf (``index`` of its mapping) or a struct of ordered children."""

    name: str
    index: int | None = None
    children: dict[str, _Node] | None = None


def _tree(mappings: Sequence[Mapping]) -> list[_Node]:
    """Group destinations by path. Names merge case-insensitively and keep their first spelling."""
    root: dict[str, _Node] = {}
    for index, m in enumerate(mappings):
        level = root
        for depth, segment in enumerate(m.path):
            key = segment.lower()
            leaf = depth == len(m.path) - 1
            node = level.get(key)
            if node is None:
                node = _Node(segment, index if leaf else None, None if leaf else {})
                level[key] = node
            if not leaf:
                assert node.children is not None  # the domain rejects leaf/struct clashes
                level = node.children
    return list(root.values())


def _assemble(node: _Node, leaves: Sequence[tuple[pa.Field, pa.Array]]) -> tuple[pa.Field, pa.Array]:
    if node.index is not None:
        f, arr = leaves[node.index]
        return f.with_name(node.name), arr
    assert node.children is not None
    parts = [_assemble(child, leaves) for child in node.children.values()]
    fields = [f for f, _ in parts]
    arr = pa.StructArray.from_arrays([a for _, a in parts], fields=fields)
    return pa.field(node.name, arr.type, nullable=True), arr


# -------------------------------------------------------------------------------------------- compile


class CompiledMapping:
    """A mapping set bound to a source schema: call it with a record batch or table to get the output table.

    ``schema`` is the output schema; every table the callable returns has exactly this schema.
    """

    def __init__(self, mapping_set: MappingSet, source_schema: pa.Schema) -> None:
        self.mapping_set = mapping_set.bind(source_schema.names)
        self.source_schema = source_schema
        self._tree = _tree(self.mapping_set.mappings)
        self._needed = self.mapping_set.source_columns()
        self._fields = {f.name: f for f in source_schema}
        self._types = {name: self._fields[name].type for name in self._needed}
        empty = {name: pa.array([], t) for name, t in self._types.items()}
        self.schema: pa.Schema = self._apply(empty, 0).schema

    def __call__(self, data: pa.RecordBatch | pa.Table) -> pa.Table:
        batches = data.to_batches() if isinstance(data, pa.Table) else [data]
        out = [self._apply(self._columns(b), b.num_rows) for b in batches if b.num_rows]
        return pa.Table.from_batches(out, schema=self.schema)

    def _columns(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        """The columns the mapping reads, with the source schema's types."""
        columns = {}
        schema = batch.schema  # (a new wrapper at every access; a page has a hundred columns)
        for name, expected in self._types.items():
            i = schema.get_field_index(name)
            if i < 0:
                raise MappingError(f"source column {name!r} is missing from the data being mapped")
            col = batch.column(i)
            columns[name] = col if col.type == expected else pc.cast(col, expected)
        return columns

    def _apply(self, columns: dict[str, pa.Array], num_rows: int) -> pa.RecordBatch:
        leaves = [self._leaf(i, m, columns, num_rows) for i, m in enumerate(self.mapping_set.mappings)]
        parts = [_assemble(node, leaves) for node in self._tree]
        return pa.RecordBatch.from_arrays([a for _, a in parts], schema=pa.schema([f for f, _ in parts]))

    def _leaf(self, index: int, m: Mapping, columns: dict[str, pa.Array], num_rows: int) -> tuple[pa.Field, pa.Array]:
        if m.source_type is SourceType.ATTRIBUTE and isinstance(m.expr, ColumnRef):
            # A copy: the column as it is, with its field's type, nullability and metadata.
            return self._fields[m.expr.name], columns[m.expr.name]
        try:
            value = _evaluate(m.expr, columns)
        except ExpressionError as exc:
            where = f" in expression {m.source!r}" if m.source_type is SourceType.EXPRESSION else ""
            raise MappingError(
                f"mappings[{index}].{m.source_field}: {exc.message}{where} (destination {m.destination!r})"
            ) from None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise MappingError(
                f"mappings[{index}].{m.source_field}: cannot evaluate {m.source!r} "
                f"(destination {m.destination!r}): {exc}"
            ) from None
        if isinstance(value, pa.Scalar):
            value = pa.repeat(value, num_rows)
        if pa.types.is_null(value.type):
            value = pc.cast(value, pa.string())
        return pa.field(m.path[-1], value.type, nullable=True), value


def compile_mapping(mapping_set: MappingSet, source_schema: pa.Schema) -> CompiledMapping:
    """Bind ``mapping_set`` to ``source_schema`` and type-check it; raise ``MappingError`` (1419) naming the
    bad mapping. The result maps ``pa.RecordBatch | pa.Table`` → ``pa.Table`` with ``.schema``."""
    return CompiledMapping(mapping_set, source_schema)


def output_schema(mapping_set: MappingSet, source_schema: pa.Schema) -> pa.Schema:
    """The schema the mapping produces, computed without data (used to create datasets)."""
    return compile_mapping(mapping_set, source_schema).schema


def identity_mapping(schema: pa.Schema) -> MappingSet:
    """Every source column copied as-is: the mapping of a flow without a Mapping transformation."""
    return MappingSet.identity(schema.names)
