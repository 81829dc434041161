"""Deterministic rows: every generated row is a pure function of (seed, table, index).

Nothing is generated up front, so a million accounts start instantly and live nowhere in memory. Columns come
in two kinds. *Row fields* are computed per row (ids, names, dates, versions, lookups into big tables).
*Bundles* are groups of related columns (an address, the finance figures, the choice columns…) for which a
few hundred coherent variants are drawn once at start-up and pre-rendered to JSON; a row picks one variant per
bundle from its hash.

Rendering works on runs of consecutive rows: the hashes of the whole run are computed lane-parallel
(:mod:`crm_emulator.vector`), each table's *head generator* writes the row fields of every row as JSON members
straight from bytes templates, and a record is the join of its head and its bundles' ready-made fragments. The
row fields' Python values (filters, ``$select``, annotations) are parsed back from that same head, so the fast
and the general path cannot disagree. A run can also be rendered in another :class:`~crm_emulator.shapes.Shape`
(a ``$select``, lookup annotations) at nearly the same cost.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from itertools import chain, repeat
from typing import Any

import orjson

from crm_emulator.ids import M64, IdScheme, SequentialIds, mix64, stable_hash
from crm_emulator.random_ids import id_scheme
from crm_emulator.render import json_value
from crm_emulator.schema import Table
from crm_emulator.shapes import DEFAULT, VARIANT_BITS, Cut, Form, Shape, annotation, fragments, reshape, tail_format
from crm_emulator.vector import mix_all

EPOCH = datetime(2019, 1, 1, tzinfo=UTC)
SNAPSHOT = datetime(2025, 6, 30, 18, 0, 0, tzinfo=UTC)
SPAN_SECONDS = int((SNAPSHOT - EPOCH).total_seconds())
BASE_VERSION = 1_000_000
VARIANTS = 1 << VARIANT_BITS
ETAG = b'{"@odata.etag":"W/\\"'
#: What separates two records in a run; it cannot occur inside a JSON string (the quote would be escaped).
SEPARATOR = b"}," + ETAG

RowFields = Callable[[int, int, "Org"], dict[str, Any]]
#: Row fields of a run as JSON members (``"prop":value,`` each, trailing comma included), from the rows'
#: indices, hashes and versions (already formatted: the etag needs them too).
HeadFn = Callable[[range, list[int], list[bytes]], list[bytes]]
#: A table's head generator for an org, its templates cut to a shape (see :class:`~crm_emulator.shapes.Cut`).
HeadFactory = Callable[["Org", Cut], HeadFn]
BundleMaker = Callable[[random.Random, "Org"], tuple[Any, ...]]


@dataclass
class Bundle:
    columns: tuple[str, ...]
    make: BundleMaker


@dataclass
class TableSpec:
    """How a data table's rows are generated: its count at a scale, its row fields and its bundles.

    Row fields come either from ``heads`` (a generator writing JSON bytes for a run of rows, used by the big
    tables) or from ``row`` (a dict per row, fine for small tables).
    """

    table: Table
    count: Callable[[int], int]
    row: RowFields | None = None
    bundles: list[Bundle] = field(default_factory=list)
    heads: HeadFactory | None = None


def ts(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=int(seconds))


DAYS = [(EPOCH + timedelta(days=d)).strftime("%Y-%m-%dT") for d in range(-40 * 366, 12 * 366)]
DAY0 = 40 * 366
TIMES = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(86400)]


def ts_text(seconds: int) -> str:
    """``ts(seconds)`` already in wire format; row fields use it because formatting is the hot path."""
    d, rest = divmod(int(seconds), 86400)
    return DAYS[DAY0 + d] + TIMES[rest]


def parse_wire(value: str, date_only: bool) -> datetime | date:
    if date_only:
        return date.fromisoformat(value[:10])
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def day(seconds: float) -> date:
    return (EPOCH + timedelta(seconds=int(seconds))).date()


class Org:
    """Generation context shared by all tables: counts and id schemes, so lookups can point at real rows."""

    def __init__(self, seed: int, scale: int, specs: list[TableSpec], random_guids: bool = False) -> None:
        self.seed = seed
        self.scale = scale
        self.random_guids = random_guids
        self.ordinals = {s.table.logical_name: n for n, s in enumerate(specs)}
        self.table_count = len(specs)
        self.counts = {s.table.logical_name: s.count(scale) for s in specs}
        self.schemes = {name: id_scheme(seed, name, count, random_guids) for name, count in self.counts.items()}
        self.max_count = max(self.counts.values() or [0])

    def ref(self, table: str, index: int) -> str:
        return self.schemes[table].id(index)

    def pick(self, table: str, h: int) -> str:
        """A row of ``table`` chosen from hash bits, skewed towards low indices (old, busy records)."""
        return self.schemes[table].id(((h & 0xFFFF) * ((h >> 16) & 0xFFFF) * self.counts[table]) >> 32)

    def version(self, table: str, index: int, h: int) -> int:
        """Base rowversion: unique across the org, below every version a write will get."""
        return BASE_VERSION + ((index * self.table_count + self.ordinals[table]) << 4) + (h & 15)

    def target_of(self, row_id: str, targets: tuple[str, ...]) -> str:
        """Which of ``targets`` a generated id points into (the general path's ``OrgData.table_of_id``)."""
        for table in targets:
            scheme = self.schemes.get(table)
            if scheme is not None and (i := scheme.index(row_id)) is not None and i < self.counts[table]:
                return table
        return targets[0]

    @property
    def first_write_version(self) -> int:
        return BASE_VERSION + (((self.max_count + 1) * self.table_count) << 4) + 16


class TableRows:
    """The generated rows of one table, addressable by index, rendered on demand."""

    def __init__(self, spec: TableSpec, org: Org | None, seed: int) -> None:
        self.table = spec.table
        name = self.table.logical_name
        self.org = org
        self.count = org.counts[name] if org is not None and name in org.counts else 0
        self.ids: IdScheme = org.schemes[name] if org is not None and name in org.schemes else SequentialIds(seed, name)
        self.salt = stable_hash("rows", seed, name)
        self.lookups = frozenset(c.prop for c in self.table.columns if c.is_lookup and c.webapi)
        self.make_heads: Callable[[Cut], HeadFn] | None = None
        if org is not None and spec.heads is not None:
            self.make_heads = partial(spec.heads, org)
        elif org is not None and spec.row is not None:
            self.make_heads = partial(dict_heads, spec.row, org, self.table)
        self.heads = self.make_heads(Cut(DEFAULT, self.lookups)) if self.make_heads is not None else None
        self.version_base = BASE_VERSION + (org.ordinals.get(name, 0) if org is not None else 0) * 16
        self.version_step = (org.table_count if org is not None else 0) << 4
        self.bundles = spec.bundles
        pk = self.table.primary_id
        self.variants: list[list[tuple[Any, ...]]] = []
        for k, bundle in enumerate(spec.bundles):
            rng = random.Random(stable_hash("bundle", seed, name, k))
            self.variants.append([bundle.make(rng, org) for _ in range(VARIANTS)] if org is not None else [])
        self.fragments = [fragments(self, k, DEFAULT) for k in range(len(spec.bundles))]
        if len(spec.bundles) > 14:
            raise ValueError("at most 14 bundles per table (two 63-bit words of variant bits)")
        self.bundle_of = {c: (k, j) for k, b in enumerate(spec.bundles) for j, c in enumerate(b.columns)}
        row_keys = list(self._parse_head(0)) if self.heads is not None and self.count else []
        bundle_keys = [c for b in spec.bundles for c in b.columns]
        webapi = [c.prop for c in self.table.webapi_columns() if c.prop != pk]
        listed = set(row_keys) | set(bundle_keys)
        self.head_keys = row_keys
        self.null_props = [p for p in webapi if p not in listed]
        self.order = row_keys + bundle_keys + self.null_props + [pk]
        self.props = frozenset(self.order)
        default = [(VARIANT_BITS * (k % 7), f) for k, f in enumerate(self.fragments)]
        self.forms: dict[Shape, Form] = {
            DEFAULT: Form(self.heads, default[:7], default[7:], tail_format(self.null_props, pk, self.ids.mid))
        }
        self.date_fields = [
            (p, self.table.by_prop[p].date_only) for p in row_keys if self.table.by_prop[p].type_name == "DateTimeType"
        ]
        #: Properties of columns deleted from the table (crm_emulator.schema_changes): generated, never served.
        self.hidden: frozenset[str] = frozenset()

    def hide(self, props: frozenset[str]) -> None:
        """Stop serving ``props`` (their columns were deleted); every shape drops them from now on."""
        self.hidden = self.hidden | props
        self.order = [p for p in self.order if p not in self.hidden]
        self.props = frozenset(self.order)
        self.null_props = [p for p in self.null_props if p not in self.hidden]
        self.forms = {}

    # --- hashing -----------------------------------------------------------------------------------------
    def hash(self, i: int) -> int:
        return mix64(self.salt ^ i)

    @staticmethod
    def bits(h: int) -> int:
        return (mix64(h + 1) & ((1 << 63) - 1)) | (mix64(h + 2) << 63)

    @staticmethod
    def variant_index(bits: int, k: int) -> int:
        """Bundle ``k``'s variant: 7 bundles from the first 63-bit word, the rest from the second."""
        return (bits >> (VARIANT_BITS * k if k < 7 else 63 + VARIANT_BITS * (k - 7))) & (VARIANTS - 1)

    def version(self, i: int, h: int) -> int:
        """``Org.version`` of this table's row ``i``."""
        return self.version_base + i * self.version_step + (h & 15)

    # --- values ------------------------------------------------------------------------------------------
    def _parse_head(self, i: int) -> dict[str, Any]:
        assert self.heads is not None
        h = self.hash(i)
        head = self.heads(range(i, i + 1), [h], [b"%d" % self.version(i, h)])[0]
        return dict(orjson.loads(b"{" + head[:-1] + b"}")) if head else {}

    def row_fields(self, i: int) -> dict[str, Any]:
        """Row fields as Python values, parsed from the rendered head (dates come back from their wire text)."""
        if self.heads is None:
            return {}
        out = self._parse_head(i)
        for prop, date_only in self.date_fields:
            text = out.get(prop)
            if isinstance(text, str):
                out[prop] = parse_wire(text, date_only)
        return out

    def values(self, i: int) -> dict[str, Any]:
        """All Web API properties of row ``i`` (the slow, general path used by filters, $select, annotations)."""
        out = self.row_fields(i)
        bits = self.bits(self.hash(i))
        for k, bundle in enumerate(self.bundles):
            variant = self.variants[k][self.variant_index(bits, k)]
            out.update(zip(bundle.columns, variant, strict=True))
        for prop in self.order:
            out.setdefault(prop, None)
        for prop in self.hidden:
            out.pop(prop, None)
        out[self.table.primary_id] = self.ids.id(i)
        return out

    def value(self, i: int, prop: str, cache: dict[str, Any] | None = None) -> Any:
        """One property of row ``i`` without computing the others when it lives in a bundle."""
        if prop == self.table.primary_id:
            return self.ids.id(i)
        where = self.bundle_of.get(prop)
        if where is not None:
            k, j = where
            bits = self.bits(self.hash(i))
            return self.variants[k][self.variant_index(bits, k)][j]
        if cache is None:
            return self.row_fields(i).get(prop)
        if not cache:
            cache.update(self.row_fields(i))
        return cache.get(prop)

    # --- fast rendering ----------------------------------------------------------------------------------
    def form(self, shape: Shape) -> Form:
        """The pieces for ``shape``, built on first use; a few recent shapes are kept."""
        found = self.forms.get(shape)
        if found is None:
            cut = Shape(shape.drop | self.hidden, shape.annotate) if self.hidden else shape
            found = self.forms[shape] = reshape(self, cut)
            if len(self.forms) > 9:
                del self.forms[next(s for s in self.forms if s != DEFAULT)]
        return found

    def render_run(self, start: int, stop: int, shape: Shape = DEFAULT) -> bytes:
        """Rows ``start..stop-1`` as complete JSON objects, comma-separated: the body of a page of untouched
        rows, built with one copy. The default shape has every column (a collection without $select)."""
        form = self.form(shape)
        idx = range(start, stop)
        salt = self.salt
        hashes = mix_all([salt ^ i for i in idx])
        base, step = self.version_base, self.version_step
        versions = list(map(b"%d".__mod__, [base + i * step + (h & 15) for i, h in zip(idx, hashes, strict=True)]))
        columns: list[Iterable[bytes]] = [chain((ETAG,), repeat(b"," + ETAG)), versions, repeat(b'\\"",')]
        if form.heads is not None:
            columns.append(form.heads(idx, hashes, versions))
        for word, bundles in ((1, form.first), (2, form.second)):
            if bundles:
                bits = mix_all([(h + word) & M64 for h in hashes])
                for shift, frags in bundles:
                    columns.append([frags[(b >> shift) & 511] for b in bits])
        columns.append(self.ids.tails(form.tail, idx))
        return b"".join(chain.from_iterable(zip(*columns, strict=False)))  # the etag pieces repeat

    def render(self, i: int) -> bytes:
        """Row ``i`` as a complete JSON object with every column, as a collection without $select returns it."""
        return self.render_run(i, i + 1)


def dict_heads(row_fn: RowFields, org: Org, table: Table, cut: Cut) -> HeadFn:
    """A head generator from a function returning each row's fields as a dict (small tables).

    Values are written by the general path's encoder, so a decimal keeps its precision here too; strings
    (dates may already be wire text) as they are. ``cut``'s shape applies member by member.
    """
    prefixes: dict[str, bytes] = {}
    drop = cut.drop
    lookups = {c.prop: c.targets for c in table.columns if c.is_lookup} if cut.annotate else {}
    notes: dict[tuple[str, str], bytes] = {}

    def member(prop: str, value: Any) -> bytes:
        prefix = prefixes.get(prop)
        if prefix is None:
            prefix = prefixes[prop] = b'"' + prop.encode() + b'":'
        text = orjson.dumps(value) if isinstance(value, str) else json_value(table.by_prop[prop], value)
        if prop in lookups and value is not None:
            note = notes.get((prop, value))
            if note is None:
                note = notes[(prop, value)] = annotation(prop, org.target_of(value, lookups[prop]))
            return note + prefix + text + b","
        return prefix + text + b","

    def heads(idx: range, hashes: list[int], versions: list[bytes]) -> list[bytes]:
        return [
            b"".join(member(p, v) for p, v in row_fn(i, h, org).items() if p not in drop)
            for i, h in zip(idx, hashes, strict=True)
        ]

    return heads
