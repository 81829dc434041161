"""Validate and preview a mapping set without storing anything (``POST /mappingSets/validate``, ``/preview``).

Both run the engine a run runs, not a copy of it: ``domain/mapping.py`` parses and binds the set,
``services/mapping.compile_mapping`` type-checks it over the source's Arrow schema and maps Arrow data
column-wise. What they add is the way in:

- The source's columns come from ``sourceSchema``, the ``schema`` object ``GET …/explore?objectType=table``
  answers (names, explore types, ``meta.primaryKey``, ``meta.precision``/``meta.scale`` of decimals), so a
  client types sample rows exactly as a run's pages are typed from the source's metadata. Without it the
  columns, and their types, are read from the sample rows (``data``).
- Sample rows arrive as JSON (explore's preview rows). Each column is converted to its Arrow type; a value
  that does not convert is a row error (a source never sends one, so a run never meets it), and so is a row
  without its primary key (``INGEST-1201-400``, as a run reports it).
- Validation answers one entry per mapping (Adobe's ``validationResponse``), plus the set's own errors
  (duplicate destinations, a primary key the mapping does not copy to a top-level field).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from flowservice.domain.errors import InvalidRequest
from flowservice.domain.expressions import MappingError, columns_of
from flowservice.domain.mapping import Mapping, MappingSet, check_destinations, parse_mapping, parse_mapping_set
from flowservice.services.explore_format import arrow_to_json_rows, explore_type
from flowservice.services.mapping import compile_mapping
from flowservice.services.resources import require_object

MAX_PREVIEW_ROWS = 100
"""As many rows as explore's preview gives (and AEP's mapping preview shows)."""
MAX_PREVIEW_BYTES = 1_000_000
"""The sample rows as JSON: a preview is a look at a few rows, not an ingestion path."""
MISSING_KEY = "INGEST-1201-400"
BAD_VALUE = "FLOW-1419-400"
"""A value that is not of its column's type, or a row the mapping cannot evaluate: the mapping error code."""

_EXPLORE_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "boolean": pa.bool_(),
    "integer": pa.int32(),
    "long": pa.int64(),
    "double": pa.float64(),
    "date": pa.date32(),
    "date-time": pa.timestamp("us", tz="UTC"),
}
_INDEX = re.compile(r"^mappings\[(\d+)\]")


@dataclass(frozen=True)
class SourceSchema:
    """The source columns sample rows are typed by, and the table's primary key when the schema names it."""

    arrow: pa.Schema
    primary_key: str | None = None


# ------------------------------------------------------------------------------------------- validate
def validate(body: Any) -> dict[str, Any]:
    """``POST /mappingSets/validate``: one ``{status, errors}`` per mapping, in order, and the set's own
    errors; ``status`` is ``FAILED`` when any is found. A body without mappings is a 400, as for a create."""
    body = require_object(body)
    items = body.get("mappings")
    if not isinstance(items, list) or not items:
        raise MappingError("mappings is required and must be a non-empty array")
    data = body.get("data")
    rows = _rows(data) if data is not None else []
    source = source_schema(body.get("sourceSchema"), rows) if body.get("sourceSchema") is not None or rows else None
    parsed: list[Mapping | None] = []
    answers: list[list[dict[str, Any]]] = []
    for index, item in enumerate(items):
        mapping, errors = _check_one(item, index, source)
        parsed.append(mapping)
        answers.append(errors)
    set_errors: list[dict[str, Any]] = []
    good = [m for m in parsed if m is not None]
    if len(good) == len(parsed):
        try:
            check_destinations(good)
        except MappingError as exc:
            found = _INDEX.match(exc.message)
            if found and int(found[1]) < len(items):
                index = int(found[1])
                answers[index].append(_error(items[index], exc.message))
            else:
                set_errors.append({"exception": exc.message})
        if source is not None and source.primary_key and not any(answers):
            problem = _primary_key_problem(MappingSet(tuple(good)).bind(source.arrow.names), source.primary_key)
            if problem:
                set_errors.append({"columnName": source.primary_key, "exception": problem})
    failed = bool(set_errors) or any(answers)
    return {
        "status": "FAILED" if failed else "SUCCESS",
        "validationResponse": [
            {"status": "FAILED" if errors else "SUCCESS", "errors": errors or None} for errors in answers
        ],
        "errors": set_errors,
    }


def _check_one(item: Any, index: int, source: SourceSchema | None) -> tuple[Mapping | None, list[dict[str, Any]]]:
    try:
        mapping = parse_mapping(item, index)
    except MappingError as exc:
        return None, [_error(item, exc.message)]
    if source is None:
        return mapping, []
    try:
        compile_mapping(MappingSet((mapping,)), source.arrow)  # binds the columns, then type-checks
    except MappingError as exc:
        message = _INDEX.sub(f"mappings[{index}]", exc.message, count=1)  # it was checked as the set's only one
        known = {n.lower() for n in source.arrow.names}
        unknown = next((r.name for r in columns_of(mapping.expr) if r.name.lower() not in known), None)
        return mapping, [_error(item, message, unknown)]
    return mapping, []


def _error(item: Any, message: str, column: str | None = None) -> dict[str, Any]:
    """Adobe's ``TransformErrorInfo``: the mapping's source, destination and type, the column, the message."""
    doc = item if isinstance(item, dict) else {}
    source = doc.get("source", doc.get("sourceAttribute"))
    destination = doc.get("destination", doc.get("destinationXdmPath"))
    error: dict[str, Any] = {
        "source": source if isinstance(source, str | int | float | bool) or source is None else None,
        "destination": destination if isinstance(destination, str) else None,
        "sourceType": doc.get("sourceType") if isinstance(doc.get("sourceType"), str) else None,
        "exception": message,
    }
    if column is not None:
        error["columnName"] = column
    return error


def _primary_key_problem(mapping_set: MappingSet, primary_key: str) -> str | None:
    """What a run refuses (``services/runs/engine``): a key not copied to a top-level field."""
    destination = mapping_set.destination_for(primary_key)
    if destination is None or "." in destination:
        return f"The mapping must copy the primary key '{primary_key}' to a top-level field."
    return None


# -------------------------------------------------------------------------------------------- preview
def preview(body: Any) -> dict[str, Any]:
    """``POST /mappingSets/preview``: ``data[i]`` is input row i mapped (``null`` when row i failed, its
    reason in ``errors``), with the mapped columns' schema. An invalid mapping set is a 400, as for a create."""
    body = require_object(body)
    raw_set = body.get("mappingSet")
    if not isinstance(raw_set, dict):
        raise InvalidRequest("The field 'mappingSet' is required: the mapping set to preview.", code="1419")
    rows = _rows(body.get("data"))
    mapping_set = parse_mapping_set(raw_set)
    source = source_schema(body.get("sourceSchema"), rows)
    compiled = compile_mapping(mapping_set, source.arrow)
    errors: list[dict[str, Any]] = []
    columns, bad = _typed_columns(rows, source.arrow, errors)
    keep = [i for i in range(len(rows)) if i not in bad]
    if source.primary_key:
        problem = _primary_key_problem(compiled.mapping_set, source.primary_key)
        if problem:
            raise InvalidRequest(problem, code="1419")
        key = columns[source.arrow.get_field_index(source.primary_key)]
        for i in list(keep):
            if not key[i].is_valid:
                keep.remove(i)
                message = f"The record has no value for the primary key '{source.primary_key}'."
                errors.append({"row": i, "code": MISSING_KEY, "columnName": source.primary_key, "exception": message})
    batch = pa.RecordBatch.from_arrays(columns, schema=source.arrow).take(pa.array(keep, pa.int64()))
    mapped: list[dict[str, Any] | None] = [None] * len(rows)
    try:
        for i, row in zip(keep, arrow_to_json_rows(compiled(batch)), strict=True):
            mapped[i] = row
    except MappingError:  # a value the mapping cannot evaluate fails a run's whole page: find the rows
        for position, i in enumerate(keep):
            try:
                mapped[i] = arrow_to_json_rows(compiled(batch.slice(position, 1)))[0]
            except MappingError as exc:
                errors.append({"row": i, "code": BAD_VALUE, "exception": exc.message})
    errors.sort(key=lambda e: int(e["row"]))
    return {
        "data": mapped,
        "errors": errors,
        "outputSchema": {"columns": [{"name": f.name, "type": explore_type(f.type)} for f in compiled.schema]},
        "counts": {"input": len(rows), "mapped": sum(1 for m in mapped if m is not None), "failed": len(errors)},
    }


def _rows(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        data = [data]  # Adobe's example sends one row as an object
    if not isinstance(data, list) or not data:
        raise InvalidRequest("The field 'data' must be a non-empty array of sample rows (JSON objects).", code="1419")
    if len(data) > MAX_PREVIEW_ROWS:
        raise InvalidRequest(
            f"The field 'data' holds {len(data)} rows; a preview takes at most {MAX_PREVIEW_ROWS}.", code="1419"
        )
    for index, row in enumerate(data):
        if not isinstance(row, dict):
            raise InvalidRequest(f"data[{index}] must be a JSON object (one row).", code="1419")
    size = len(orjson.dumps(data))
    if size > MAX_PREVIEW_BYTES:
        raise InvalidRequest(
            f"The sample rows take {size} bytes as JSON; a preview takes at most {MAX_PREVIEW_BYTES}.", code="1419"
        )
    return data


# ----------------------------------------------------------------------------------------- source rows
def source_schema(doc: Any, rows: Sequence[dict[str, Any]]) -> SourceSchema:
    """The source's columns: from ``doc`` (explore's ``schema`` object), else read from the sample rows."""
    if doc is None:
        return _schema_of_rows(rows)
    columns = doc.get("columns") if isinstance(doc, dict) else None
    if not isinstance(columns, list) or not columns:
        raise InvalidRequest(
            'The field \'sourceSchema\' must be explore\'s schema object: {"columns": [{"name", "type"}, …]}.',
            code="1419",
        )
    fields = []
    primary_key = None
    for index, column in enumerate(columns):
        name = column.get("name") if isinstance(column, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"sourceSchema.columns[{index}].name must be a non-empty string.", code="1419")
        meta = column.get("meta") if isinstance(column.get("meta"), dict) else {}
        arrow = _arrow_type(column.get("type"), meta, f"sourceSchema.columns[{index}]")
        is_key = meta.get("primaryKey") is True
        if is_key:
            primary_key = name
        fields.append(pa.field(name, arrow, nullable=not is_key))
    try:
        return SourceSchema(pa.schema(fields), primary_key)
    except (pa.ArrowInvalid, ValueError):
        raise InvalidRequest("sourceSchema.columns names a column twice.", code="1419") from None


def _arrow_type(kind: Any, meta: dict[str, Any], where: str) -> pa.DataType:
    if kind == "decimal":
        precision, scale = meta.get("precision", 38), meta.get("scale", 10)
        if not (isinstance(precision, int) and isinstance(scale, int) and 0 <= scale <= precision <= 38):
            raise InvalidRequest(f"{where}.meta: precision and scale must be integers, 0 ≤ scale ≤ precision ≤ 38.")
        return pa.decimal128(precision, scale)
    if kind == "array":
        return pa.string()  # explore shows lists as "array"; sample rows carry them as JSON text
    if not isinstance(kind, str) or kind not in _EXPLORE_TYPES:
        allowed = ", ".join([*_EXPLORE_TYPES, "decimal", "array"])
        raise InvalidRequest(f"{where}.type {kind!r} is not one of {allowed}.", code="1419")
    return _EXPLORE_TYPES[kind]


def _schema_of_rows(rows: Sequence[dict[str, Any]]) -> SourceSchema:
    """Columns in first-seen order, typed as Arrow reads the JSON values (text stays text)."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    fields = []
    for name in names:
        try:
            arrow = pa.array([row.get(name) for row in rows]).type
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise InvalidRequest(
                f"The sample rows give column {name!r} values of different types; send 'sourceSchema' (explore's "
                "schema of the table) to type them.",
                code="1419",
            ) from None
        fields.append(pa.field(name, pa.string() if pa.types.is_null(arrow) else arrow))
    return SourceSchema(pa.schema(fields))


def _typed_columns(
    rows: Sequence[dict[str, Any]], schema: pa.Schema, errors: list[dict[str, Any]]
) -> tuple[list[pa.Array], set[int]]:
    """Each column as its Arrow type; a value that does not convert is a row error and its row is dropped."""
    columns: list[pa.Array] = []
    bad: set[int] = set()
    for field in schema:
        values = [row.get(field.name) for row in rows]
        try:
            columns.append(_convert(values, field.type))
            continue
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError, OverflowError):
            pass
        kept: list[Any] = []
        for i, value in enumerate(values):
            try:
                _convert([value], field.type)
                kept.append(value)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
                kept.append(None)
                if i not in bad:
                    bad.add(i)
                    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:60] + "…"
                    message = f"The value {shown} of column '{field.name}' is not a {explore_type(field.type)}."
                    errors.append({"row": i, "code": BAD_VALUE, "columnName": field.name, "exception": message})
        columns.append(_convert(kept, field.type))
    return columns, bad


def _convert(values: list[Any], arrow: pa.DataType) -> pa.Array:
    """JSON values → one Arrow column: dates, times and decimals come as text (explore's preview rows)."""
    if pa.types.is_timestamp(arrow) or pa.types.is_date(arrow) or pa.types.is_decimal(arrow):
        if any(isinstance(v, bool) or not isinstance(v, str | int | float | type(None)) for v in values):
            raise TypeError("not text")
        if not pa.types.is_decimal(arrow) and any(isinstance(v, int | float) for v in values):
            raise TypeError("not text")
        text = pa.array([None if v is None else str(v) for v in values], pa.string())
        if pa.types.is_date(arrow):
            return pc.cast(pc.cast(text, pa.timestamp("s")), arrow)
        return pc.cast(text, arrow)
    if pa.types.is_string(arrow):
        if any(isinstance(v, dict | list) for v in values):
            return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], arrow)
        if any(not isinstance(v, str | type(None)) for v in values):
            raise TypeError("not text")
        return pa.array(values, arrow)
    if pa.types.is_integer(arrow) and any(isinstance(v, bool | float) for v in values):
        raise TypeError("not an integer")
    if pa.types.is_boolean(arrow) and any(not isinstance(v, bool | type(None)) for v in values):
        raise TypeError("not a boolean")
    if pa.types.is_floating(arrow) and any(isinstance(v, bool | str) for v in values):
        raise TypeError("not a number")
    return pa.array(values, arrow)
