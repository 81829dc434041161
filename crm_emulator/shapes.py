"""Shapes of a fast render: the properties a request drops (``$select``) and whether lookups are annotated.

A run of generated rows is joined from pieces: each row's head (row fields), one fragment per bundle and a
tail (the columns nobody generates, then the key). Editing records afterwards would cost more than rendering
them (they are ~3.4 KB; even one regex or slice per head costs ~1.5 µs), so each piece is reshaped once, where
it is made: bundle fragments and the tail per (table, shape), head generators' templates by a :class:`Cut`.
The default shape (everything, no annotations) is what the disk store holds and must not change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from crm_emulator.prefer import LOGICAL_NAME
from crm_emulator.render import json_value

if TYPE_CHECKING:
    from crm_emulator.rows import HeadFn, TableRows
    from crm_emulator.schema import Column

VARIANT_BITS = 9
#: A member's value in a head: a JSON string (escapes included) or a literal without commas; then its comma.
_VALUE = rb'(?:"[^"\\]*(?:\\.[^"\\]*)*"|[^,"]*),'
#: A member of a head template, and the ``%`` conversions in its value.
_MEMBER = re.compile(rb'"([A-Za-z0-9_]+)":(' + _VALUE[:-1] + rb"),")
_SPEC = re.compile(rb"%[-#0-9.]*[a-z]")


@dataclass(frozen=True)
class Shape:
    drop: frozenset[str] = frozenset()
    annotate: bool = False


DEFAULT = Shape()


def annotation(prop: str, target: str) -> bytes:
    """The member Dataverse writes before a non-null lookup when ``lookuplogicalname`` is asked for."""
    return b'"%s@%s":"%s",' % (prop.encode(), LOGICAL_NAME.encode(), target.encode())


class LookupMember:
    """A lookup's whole member in a head, for a template slot a :class:`Cut` left bare: ``"_p":null``, or what
    precedes an id of a target table (``"_p":``, after the lookuplogicalname annotation when annotating)."""

    __slots__ = ("annotate", "key", "null", "prop")

    def __init__(self, prop: str, annotate: bool) -> None:
        self.prop = prop
        self.annotate = annotate
        self.key = b'"' + prop.encode() + b'":'
        self.null = self.key + b"null"

    def to(self, target: str) -> bytes:
        return (annotation(self.prop, target) if self.annotate else b"") + self.key


class Cut:
    """What a shape does to a head generator's templates, applied once when the generator is built.

    A dropped member whose value is spliced in with ``%s`` becomes ``%.0s`` (the value formats to nothing), a
    literal one goes, so a generator still does one ``%`` per template and row in any shape. Members it cannot
    cut (an integer conversion in the value) are collected in ``left``, for a regex over the heads. A lookup's
    ``"_x_value":%s,`` becomes a bare ``%s,`` slot, or ``%.0s`` when dropped: the generator splices in its
    :class:`LookupMember`'s output, key (and annotation) included.
    """

    def __init__(self, shape: Shape, lookups: Collection[str]) -> None:
        self.drop = shape.drop
        self.annotate = shape.annotate
        self.lookups = lookups
        self.left: set[str] = set()

    def __call__(self, template: bytes) -> bytes:
        return _MEMBER.sub(self._member, template)

    def _member(self, m: re.Match[bytes]) -> bytes:
        key, value = m.group(1).decode(), m.group(2)
        dropped = key in self.drop
        if key in self.lookups and value == b"%s":
            return b"%.0s" if dropped else b"%s,"
        if not dropped:
            return m.group(0)
        specs = _SPEC.findall(value)
        if all(spec == b"%s" for spec in specs):
            return b"%.0s" * len(specs)
        self.left.add(key)
        return m.group(0)

    def lookup(self, prop: str) -> LookupMember:
        return LookupMember(prop, self.annotate)


@dataclass
class Form:
    """What :meth:`TableRows.render_run` joins for one shape: bundles as (shift in their hash word, 512
    fragments), split by the hash word they take their variant from."""

    heads: HeadFn | None
    first: list[tuple[int, list[bytes]]]
    second: list[tuple[int, list[bytes]]]
    tail: bytes


def tail_format(null_props: list[str], pk: str, mid: str) -> bytes:
    """The null columns and the primary key, to be formatted with ``ids.pair(i)``."""
    nulls = b"".join(b'"' + p.encode() + b'":null,' for p in null_props)
    return (nulls + b'"' + pk.encode() + b'":"').replace(b"%", b"%%") + b"%08x" + mid.encode() + b'%012x"}'


def fragments(rows: TableRows, k: int, shape: Shape) -> list[bytes]:
    """Bundle ``k``'s variants as members: dropped columns left out, non-null lookups annotated if asked."""
    cols: list[Column] = [rows.table.by_prop[c] for c in rows.bundles[k].columns]
    keep = [(j, c, b'"' + c.prop.encode() + b'":') for j, c in enumerate(cols) if c.prop not in shape.drop]
    org = rows.org
    out = []
    for values in rows.variants[k]:
        parts = []
        for j, col, prefix in keep:
            value: Any = values[j]
            if shape.annotate and col.is_lookup and value is not None and org is not None:
                parts.append(annotation(col.prop, org.target_of(value, col.targets)))
            parts.append(prefix + json_value(col, value) + b",")
        out.append(b"".join(parts))
    return out


def member_filter(drop: Collection[str]) -> Callable[[bytes], bytes] | None:
    """Drops members from heads, for what a :class:`Cut` could not cut (~1.5 µs a head, so only for those).

    A match starts at an unescaped quote followed by a key and ``":``, which only a member's name can be:
    inside a JSON string every quote is escaped.
    """
    if not drop:
        return None
    names = b"|".join(re.escape(p.encode()) for p in sorted(drop))
    return partial(re.compile(b'"(?:' + names + b')":' + _VALUE).sub, b"")


def reshape(rows: TableRows, shape: Shape) -> Form:
    """The pieces of ``rows`` for ``shape``; bundles a shape leaves untouched share the default's fragments."""
    first: list[tuple[int, list[bytes]]] = []
    second: list[tuple[int, list[bytes]]] = []
    for k, bundle in enumerate(rows.bundles):
        shift = VARIANT_BITS * (k if k < 7 else k - 7)
        cols = [rows.table.by_prop[c] for c in bundle.columns]
        if all(c.prop in shape.drop for c in cols):
            continue
        touched = any(c.prop in shape.drop or (shape.annotate and c.is_lookup) for c in cols)
        frags = fragments(rows, k, shape) if touched else rows.fragments[k]
        (first if k < 7 else second).append((shift, frags))
    heads = None
    if rows.make_heads is not None and not shape.drop.issuperset(rows.head_keys):
        cut = Cut(shape, rows.lookups)
        heads = _filtered(rows.make_heads(cut), member_filter(cut.left))
    nulls = [p for p in rows.null_props if p not in shape.drop]
    return Form(heads, first, second, tail_format(nulls, rows.table.primary_id, rows.ids.mid))


def _filtered(heads: HeadFn, keep: Callable[[bytes], bytes] | None) -> HeadFn:
    if keep is None:
        return heads
    return lambda idx, hashes, versions: list(map(keep, heads(idx, hashes, versions)))
