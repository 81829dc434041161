"""Catalog's listing parameters (Adobe's "Filter Catalog data using query parameters",
https://experienceleague.adobe.com/docs/experience-platform/catalog/api/filter-data.html): simple filters
(``name=a,b``, ``name=!a``), ``property=`` conditions (``catalog_conditions.py``), ``tags=name:value`` (all
must match, ``*`` a wildcard in the value), ``createdAfter``/``createdBefore`` (exclusive, epoch
milliseconds), ``orderBy`` (``asc:``/``desc:`` per property, comma-separated, ascending by default),
``start``, ``limit`` (1 to 100, 20 when not given) and ``properties`` (the top-level fields to answer). A
parameter the server does not support is refused by name rather than ignored: a filter silently dropped would
answer the wrong objects."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flowservice.domain.errors import InvalidRequest
from flowservice.services.catalog_conditions import Condition, TagFilter, parse_condition, parse_tags

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_START = 2**31 - 1
_PAGING = ("start", "limit", "orderBy", "properties", "tags")
#: the one parameter that may repeat: each ``property=`` is one more condition that must hold
REPEATABLE = "property"
#: simple filters (a comma list of values, any of which matches; ``!`` first negates the list)
DATASET_FILTERS = ("name",)
BATCH_FILTERS = ("dataSet", "status", "createdAfter", "createdBefore")
_RANGES = {"createdAfter": ("created", 1), "createdBefore": ("created", -1)}
#: Catalog's batch status enum
BATCH_STATUSES = (
    "processing",
    "success",
    "failure",
    "queued",
    "retrying",
    "stalled",
    "aborted",
    "abandoned",
    "inactive",
    "failed",
    "loading",
    "loaded",
    "staged",
    "active",
    "staging",
    "deleted",
)
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_INTEGER = re.compile(r"[+-]?[0-9]{1,20}")


@dataclass(frozen=True)
class Filter:
    field: str
    values: frozenset[str]
    negated: bool
    fold_case: bool

    def matches(self, doc: dict[str, Any]) -> bool:
        value = doc.get(self.field)
        text = None if value is None else str(value)
        found = text is not None and (text.lower() if self.fold_case else text) in self.values
        return found != self.negated


@dataclass(frozen=True)
class CatalogQuery:
    filters: list[Filter] = field(default_factory=list)
    ranges: list[tuple[str, int, int]] = field(default_factory=list)  # (field, bound, +1 after / -1 before)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    conditions: list[Condition] = field(default_factory=list)
    tags: list[TagFilter] = field(default_factory=list)
    start: int = 0
    limit: int = DEFAULT_LIMIT
    properties: tuple[str, ...] | None = None

    def selects(self, doc: dict[str, Any]) -> bool:
        return (
            all(f.matches(doc) for f in self.filters)
            and all(c.matches(doc) for c in self.conditions)
            and all(t.matches(doc) for t in self.tags)
            and _in_ranges(self, doc)
        )


def parse(params: Iterable[tuple[str, str]], filters: tuple[str, ...], where: str) -> CatalogQuery:
    params = list(params)
    options = _options([p for p in params if p[0] != REPEATABLE], (*_PAGING, REPEATABLE, *filters), where)
    query = CatalogQuery(
        conditions=[parse_condition(value) for name, value in params if name == REPEATABLE],
        tags=parse_tags(options.get("tags")),
        start=_integer(options, "start", 0, 0, MAX_START),
        limit=_integer(options, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        order=_order(options.get("orderBy")),
        properties=_properties(options.get("properties")),
    )
    for name in filters:
        if name not in options:
            continue
        if name in _RANGES:
            target, direction = _RANGES[name]
            query.ranges.append((target, _integer(options, name, 0, 0, 2**63 - 1), direction))
        else:
            query.filters.append(_filter(name, options[name]))
    return query


def parse_properties(params: Iterable[tuple[str, str]], where: str) -> tuple[str, ...] | None:
    return _properties(_options(params, ("properties",), where).get("properties"))


def answer(query: CatalogQuery, docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The page of ``docs`` (already in the default order) the query selects, keyed by id."""
    selected = [d for d in docs if query.selects(d)]
    for name, descending in reversed(query.order):  # stable sorts, last key first
        selected.sort(key=_by(name, descending), reverse=descending)
    page = selected[query.start : query.start + query.limit]
    return {d["id"]: project(d, query.properties) for d in page}


def project(doc: dict[str, Any], properties: tuple[str, ...] | None) -> dict[str, Any]:
    """Only the ``properties`` asked for (those the object has); every field when none were."""
    if properties is None:
        return doc
    return {name: doc[name] for name in properties if name in doc}


def _options(params: Iterable[tuple[str, str]], allowed: tuple[str, ...], where: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for name, value in params:
        if name not in allowed:
            raise InvalidRequest(
                f"The query parameter '{name[:64]}' is not supported on {where}; use {', '.join(allowed)}.",
                code="1451",
            )
        if name in options:
            raise InvalidRequest(f"The query parameter '{name}' is given more than once; give it once.")
        options[name] = value
    return options


def _integer(options: dict[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = options.get(name)
    if raw is None:
        return default
    bounds = f"an integer between {minimum} and {maximum}"
    if not _INTEGER.fullmatch(raw.strip()):
        raise InvalidRequest(f"The query parameter '{name}' must be {bounds}; got {raw[:40]!r}.")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise InvalidRequest(f"The query parameter '{name}' must be {bounds}; got {value}.")
    return value


def _order(raw: str | None) -> list[tuple[str, bool]]:
    if raw is None:
        return []
    order = []
    for part in raw.split(","):
        direction, _, name = part.strip().rpartition(":")
        if direction.lower() not in ("", "asc", "desc") or not _FIELD.fullmatch(name):
            raise InvalidRequest(
                f"Invalid orderBy {part.strip()[:64]!r}: give a property, optionally after asc: or desc: "
                "(e.g. orderBy=desc:created or orderBy=name,desc:updated)."
            )
        order.append((name, direction.lower() == "desc"))
    return order


def _properties(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    names = tuple(part.strip() for part in raw.split(","))
    for name in names:
        if not _FIELD.fullmatch(name):
            raise InvalidRequest(
                f"Invalid properties entry {name[:64]!r}: give top-level property names separated by commas "
                "(e.g. properties=name,schemaRef)."
            )
    return names


def _filter(name: str, raw: str) -> Filter:
    negated = raw.startswith("!")
    values = [v.strip() for v in (raw[1:] if negated else raw).split(",")]
    if not all(values):
        raise InvalidRequest(f"The query parameter '{name}' needs a value (or a comma list of values).")
    fold_case = name == "status"
    if fold_case:
        values = [v.lower() for v in values]
        unknown = [v for v in values if v not in BATCH_STATUSES]
        if unknown:
            raise InvalidRequest(f"Invalid batch status {unknown[0][:40]!r}; use one of {', '.join(BATCH_STATUSES)}.")
    return Filter(name, frozenset(values), negated, fold_case)


def _in_ranges(query: CatalogQuery, doc: dict[str, Any]) -> bool:
    for name, bound, direction in query.ranges:
        value = doc.get(name)
        if not isinstance(value, int) or (value - bound) * direction <= 0:
            return False
    return True


def _by(name: str, descending: bool) -> Callable[[dict[str, Any]], tuple[int, int, Any]]:
    return lambda doc: _sort_key(doc.get(name), descending)


def _sort_key(value: Any, descending: bool) -> tuple[int, int, Any]:
    """Numbers, then strings, then anything else; objects without the property come last either way (the
    sort is reversed for ``desc``, so there "last" is the smallest key)."""
    present, missing = (1, 0) if descending else (0, 1)
    if value is None:
        return (missing, 0, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (present, 0, value)
    if isinstance(value, str):
        return (present, 1, value)
    return (present, 2, repr(value))
