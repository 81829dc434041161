"""Dataverse JSON pages → Arrow record batches typed by the metadata schema.

``PageDecoder`` decodes a page's raw bytes in C++: Arrow's JSON reader parses the body against a schema built
from the metadata (numbers straight to int32/int64/double/decimal128 from their text, ISO strings to UTC
timestamps), then GUIDs are lower-cased and DateOnly values cast to date32, column-wise. Decimals never pass
through a binary float: Arrow converts the number's own digits, and refuses one with more fractional digits
than the column's scale. Arrow is stricter than the Web API's variations, so any page it does not take as is —
a value of another JSON type than metadata says (numbers as strings, objects in text columns), a decimal to
round, a ``$deletedEntity`` or an annotated item, anything unusual — is decoded again by the exact path below,
which defines the behaviour; the fast path only ever returns what the exact path would.

The exact path is column-wise too: one Python list per column (the values orjson produced), one ``pa.array``
per column, then vectorised casts (ISO strings → timestamp/date, decimal strings → decimal128, GUIDs
lower-cased). Money and decimal values are quoted in the raw bytes *before* parsing, so they never pass through
a binary float and keep every digit. A value that contradicts the metadata type raises ``SourceError`` naming
the column: data is never silently nulled.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from flowservice.domain.errors import SourceError
from flowservice.ports import Column

from .files import is_file_companion
from .lookups import wire_companion

_NUMBER = rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_UTC = pa.timestamp("us", tz="UTC")
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError, ValueError)
NEXT_LINK = "@odata.nextLink"
DELTA_LINK = "@odata.deltaLink"
_CONTEXT = "@odata.context"  # only ``$deletedEntity`` items (and the page itself) carry one
#: Types Arrow's JSON reader converts exactly as the exact path does (dates are read as text, then cast).
_NATIVE = (pa.int32(), pa.int64(), pa.float64(), pa.bool_(), pa.string(), pa.timestamp("us", tz="UTC"))
_NEXT_LINK_KEY = b'"@odata.nextLink":'
_HINT_WINDOW = 1 << 16  # a next link sits at the very end of a page; skip tokens are a few kilobytes


def is_companion(column: Column) -> bool:
    """A lookup's companion read from an annotation of the lookup (its target table or name: ``lookups.py``)."""
    return wire_companion(column.name) is not None


def annotation_terms(columns: Sequence[Column]) -> tuple[str, ...]:
    """The annotation terms the companions among ``columns`` arrive under (for ``odata.include-annotations``)."""
    return tuple(sorted({found[1] for c in columns if (found := wire_companion(c.name)) is not None}))


def wire_key(column: Column) -> str:
    """The JSON key a column's value arrives under (an annotation of its lookup for companions)."""
    found = wire_companion(column.name)
    return f"{found[0]}@{found[1]}" if found else column.name


def select_names(columns: Sequence[Column]) -> list[str]:
    """``$select`` properties: companions are annotations of their lookup, which is selected instead."""
    names: dict[str, None] = {}
    for column in columns:
        if is_file_companion(column):
            continue  # filled from fileattachment rows (files.py), not a property of the record
        found = wire_companion(column.name)
        names[found[0] if found else column.name] = None
    return list(names)


def decimal_quoter(columns: Sequence[Column]) -> Callable[[bytes], bytes] | None:
    """A bytes rewrite ``"revenue": 20000.0000`` → ``"revenue":"20000.0000"`` for the decimal columns.

    Safe on valid JSON: ``"name":`` with unescaped quotes only ever occurs as an object key, and Dataverse
    property names never contain quotes or backslashes.
    """
    names = [c.name.encode() for c in columns if pa.types.is_decimal(c.arrow_type)]
    if not names:
        return None
    pattern = re.compile(rb'"(' + b"|".join(re.escape(n) for n in names) + rb')"(\s*):(\s*)(' + _NUMBER + rb")")
    replacement = rb'"\1"\2:\3"\4"'
    return lambda body: pattern.sub(replacement, body)


def to_batch(rows: Sequence[dict[str, Any]], columns: Sequence[Column], table: str) -> pa.RecordBatch:
    arrays = []
    for column in columns:
        key = wire_key(column)
        values = [row.get(key) for row in rows]
        try:
            arrays.append(convert(values, column))
        except _ARROW_ERRORS as exc:
            raise SourceError(
                f"Dataverse sent a value in {table}.{column.name} that does not fit its metadata type "
                f"{column.original_type} ({column.arrow_type}): {exc}"
            ) from None
    schema = pa.schema([pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in columns])
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def convert(values: list[Any], column: Column) -> pa.Array:
    t = column.arrow_type
    if pa.types.is_decimal(t):
        return _decimals(values, t)
    if pa.types.is_timestamp(t):
        return _timestamps(values)
    if pa.types.is_date(t):
        return _dates(values)
    if pa.types.is_string(t):
        array = _strings(values)
        if column.xdm.get("format") == "uuid":
            return pc.utf8_lower(array)
        return array
    try:
        return pa.array(values, type=t)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # numbers sent as strings (OData IEEE754Compatible) or booleans as "true"
        return pc.cast(_strings(values), t)


def _strings(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(
            [v if v is None or isinstance(v, str) else orjson.dumps(v).decode() for v in values], type=pa.string()
        )


def _decimals(values: list[Any], t: pa.DataType) -> pa.Array:
    text = _strings(values)  # quoted by ``decimal_quoter``; plain JSON numbers are tolerated
    try:
        return pc.cast(text, t)
    except pa.ArrowInvalid:
        pass
    # more fractional digits than the metadata precision (precision lowered after the data was written):
    # round half-even to the column's scale, as Dataverse displays it
    quantum = decimal.Decimal(1).scaleb(-t.scale)
    rounded = [
        None if v is None else decimal.Decimal(str(v)).quantize(quantum, rounding=decimal.ROUND_HALF_EVEN)
        for v in text.to_pylist()
    ]
    return pa.array(rounded, type=t)


def _timestamps(values: list[Any]) -> pa.Array:
    text = _strings(values)
    try:
        return pc.cast(text, _UTC)
    except pa.ArrowInvalid:
        pass
    # a value without a zone offset: Dataverse date-times are UTC
    parsed = [None if v is None else _utc(dt.datetime.fromisoformat(v)) for v in text.to_pylist()]
    return pa.array(parsed, type=_UTC)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _dates(values: list[Any] | pa.Array) -> pa.Array:
    text = values if isinstance(values, pa.Array) else _strings(values)
    try:
        return pc.cast(text, pa.date32())
    except pa.ArrowInvalid:
        # a DateOnly value sent with a time part ("2024-03-15T00:00:00Z"): the date is the first ten characters
        return pc.cast(pc.utf8_slice_codeunits(text, 0, 10), pa.date32())


def split_deleted(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Delta pages mix rows with ``{"@odata.context": ".../$deletedEntity", "id": ..., "reason": "deleted"}``."""
    rows: list[dict[str, Any]] = []
    deleted: list[str] = []
    for item in items:
        context = item.get(_CONTEXT)
        if context is not None and (str(context).endswith("$deletedEntity") or item.get("reason") == "deleted"):
            if item.get("id"):
                deleted.append(str(item["id"]).lower())
        else:
            rows.append(item)
    return rows, deleted


def next_link_hint(body: bytes | pa.Buffer) -> str | None:
    """The ``@odata.nextLink`` of a page, read from its last bytes without parsing the page: a guess (the
    reader fetches it ahead, and uses what it fetched only if the parsed page names the same link).

    ``"@odata.nextLink":`` with unescaped quotes only occurs as a key (inside a JSON string every quote is
    escaped), and Dataverse writes it last.
    """
    size = len(body) if isinstance(body, bytes) else body.size
    last = bytes(memoryview(body)[max(0, size - _HINT_WINDOW) :])
    at = last.rfind(_NEXT_LINK_KEY)
    if at < 0:
        return None
    try:
        tail = orjson.loads(b"{" + last[at:])
    except orjson.JSONDecodeError:
        return None
    link = tail.get(NEXT_LINK) if isinstance(tail, dict) else None
    return link if isinstance(link, str) and link else None


@dataclass
class DecodedPage:
    """One page: its rows as Arrow, the keys it reports deleted, and the link to the next page or the delta."""

    batch: pa.RecordBatch
    deleted_keys: list[str] = field(default_factory=list)
    next_link: str | None = None
    delta_link: str | None = None
    size: int = 0  # bytes of the page's body


class PageDecoder:
    """Decodes the raw bytes of a page of ``columns`` (see the module docstring).

    ``deletes`` splits ``$deletedEntity`` items out (change-tracking reads). A body that is not JSON raises
    ``orjson.JSONDecodeError`` (a truncated transfer: the HTTP layer retries it); a value that contradicts
    metadata raises ``SourceError``. ``fast_pages`` and ``exact_pages`` count which path decoded each page.
    """

    def __init__(self, columns: Sequence[Column], table: str) -> None:
        self.columns = tuple(columns)
        self.table = table
        self.schema = pa.schema([pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in self.columns])
        self._quote = decimal_quoter(self.columns)
        self._options = _wire_options(self.columns)
        self._finish = [_finisher(c) for c in self.columns]
        self._floats = [i for i, c in enumerate(self.columns) if pa.types.is_floating(c.arrow_type)]
        self.fast_pages = 0
        self.exact_pages = 0

    def __call__(self, body: bytes | pa.Buffer, *, deletes: bool = False) -> DecodedPage:
        if self._options is not None:
            page = self._fast(body)
            if page is not None:
                self.fast_pages += 1
                return page
        self.exact_pages += 1
        return self.exact(body, deletes=deletes)

    def exact(self, body: bytes | pa.Buffer, *, deletes: bool = False) -> DecodedPage:
        raw = body if isinstance(body, bytes) else body.to_pybytes()
        doc = orjson.loads(self._quote(raw) if self._quote else raw)
        items = doc.get("value") or []
        rows, deleted = split_deleted(items) if deletes else (items, [])
        return DecodedPage(to_batch(rows, self.columns, self.table), deleted, doc.get(NEXT_LINK), doc.get(DELTA_LINK))

    def _fast(self, body: bytes | pa.Buffer) -> DecodedPage | None:
        """The page through Arrow's JSON reader, or None when the exact path must decide.

        The page is parsed whole, in the reading thread. Cutting it in two and parsing the halves in two
        threads halved its wall time when a core was free, but cost a fifth more CPU (the halves' copies, the
        columns joined again), and on two cores the engine and the next page's fetch use the other core anyway
        (docs/performance.md, *CPU per million rows*)."""
        assert self._options is not None
        try:
            parsed = self._parse(body)
            if parsed is None:
                return None
            arrays, links = parsed
            for i in self._floats:  # NaN and Infinity are not JSON (orjson refuses them)
                if pc.all(pc.is_finite(arrays[i])).as_py() is False:
                    return None
            batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
            batch.validate(full=True)  # text is valid UTF-8, as orjson would have insisted
        except (pa.ArrowException, *_ARROW_ERRORS):
            return None
        finally:
            # The parse needs about twice the page's size for a moment; the allocator would keep that memory
            # for the next page, and the one after, in each thread: hand it back (this costs microseconds).
            pa.default_memory_pool().release_unused()
        return DecodedPage(batch, [], links[NEXT_LINK], links[DELTA_LINK])

    def _parse(self, body: bytes | pa.Buffer) -> tuple[list[pa.Array], dict[str, Any]] | None:
        """One JSON page as finished column arrays and its links, or None for the exact path."""
        try:
            table = pajson.read_json(
                pa.BufferReader(body),
                read_options=pajson.ReadOptions(use_threads=False, block_size=max(1, len(memoryview(body)))),
                parse_options=self._options,
            )
            value = table.column("value")
            if table.num_rows != 1 or value.num_chunks != 1 or value.null_count:
                return None
            items = value.chunk(0).flatten()
            if items.null_count:  # a null item
                return None
            *wire, context = items.flatten()
            if context.null_count != len(context):  # deleted entities or annotated items
                return None
            arrays = [finish(array) for finish, array in zip(self._finish, wire, strict=True)]
            return arrays, table.select([NEXT_LINK, DELTA_LINK]).to_pylist()[0]
        except (pa.ArrowException, *_ARROW_ERRORS):
            return None


def _wire_options(columns: Sequence[Column]) -> pajson.ParseOptions | None:
    """Arrow JSON parse options for a page of ``columns``, or None if a column has a type read only exactly."""
    fields = []
    for column in columns:
        t = column.arrow_type
        if pa.types.is_date32(t):
            t = pa.string()
        elif not (t in _NATIVE or (pa.types.is_decimal128(t) and t.precision <= 38)):
            return None
        fields.append(pa.field(wire_key(column), t))
    names = [f.name for f in fields]
    if len(set(names)) != len(names) or _CONTEXT in names:
        return None
    item = pa.struct([*fields, pa.field(_CONTEXT, pa.string())])
    schema = pa.schema(
        [pa.field("value", pa.list_(item)), pa.field(NEXT_LINK, pa.string()), pa.field(DELTA_LINK, pa.string())]
    )
    return pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=True)


def _finisher(column: Column) -> Callable[[pa.Array], pa.Array]:
    t = column.arrow_type
    if pa.types.is_date32(t):
        return _dates
    if pa.types.is_string(t) and column.xdm.get("format") == "uuid":
        return cast(Callable[[pa.Array], pa.Array], pc.utf8_lower)
    return _same


def _same(array: pa.Array) -> pa.Array:
    return array
