"""The listing grammar of Flow Service list endpoints: ``property`` filters, ``orderby``, ``limit``,
``continuationToken`` and ``count``.

Filters are evaluated on the JSON document a client sees, so any documented path works:
``property=params.tableName==lead``, ``property=sourceConnectionIds[]==a,b``,
``property=metrics.durationSummary.startedAtUTC>1593134665781``. Several ``property`` parameters are ANDed;
a comma list means "any of". String values compare case-insensitively (the docs filter ``status==Failed``
while stored values are lower-case). One pair of double quotes around a value is stripped.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowservice.domain.errors import InvalidRequest

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_KNOWN_OPERATORS = ("==", "!=", ">=", "<=", ">", "<")
_EXPRESSION = re.compile(r"^(?P<path>[A-Za-z0-9_.\[\]@$:-]+?)(?P<op>==|!=|>=|<=|!>|=<|=>|~|>|<)(?P<value>.*)$")
_PATH_STEP = re.compile(r"^[A-Za-z0-9_@$:-]+(\[\])?$")


@dataclass(frozen=True)
class Filter:
    path: tuple[str, ...]
    op: str
    values: tuple[str, ...]

    def matches(self, doc: Mapping[str, Any]) -> bool:
        leaves = list(_resolve(doc, self.path))
        if self.op == "!=":
            return not any(_compare(leaf, "==", v) for leaf in leaves for v in self.values)
        return any(_compare(leaf, self.op, v) for leaf in leaves for v in self.values)


@dataclass(frozen=True)
class OrderBy:
    path: tuple[str, ...]
    descending: bool


@dataclass(frozen=True)
class ListQuery:
    filters: tuple[Filter, ...] = ()
    order: tuple[OrderBy, ...] = ()
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    count_only: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)


def parse_filter(expression: str) -> Filter:
    match = _EXPRESSION.match(expression.strip())
    if not match:
        raise InvalidRequest(f"Invalid query value {expression} provided in query param.", code="1453")
    path_text, op, raw_value = match["path"], match["op"], match["value"]
    if op == "~":
        raise InvalidRequest("Operator '~' not implemented.", code="1440")
    if op not in _KNOWN_OPERATORS:
        raise InvalidRequest(f"Invalid operator {op} in filter params.", code="1450")
    steps = tuple(path_text.split("."))
    if not all(_PATH_STEP.match(step) for step in steps):
        raise InvalidRequest(f"Invalid field {path_text} in filter params.", code="1449")
    values = tuple(_unquote(v.strip()) for v in _split_values(raw_value))
    if not values or any(v == "" for v in values):
        raise InvalidRequest(f"Invalid query value {expression} provided in query param.", code="1453")
    if len(values) > 1 and op not in ("==", "!="):
        raise InvalidRequest(f"Operator '{op}' is not allowed for multiple values.", code="1443")
    if steps[-1] == "id" and op in (">", "<", ">=", "<="):
        raise InvalidRequest(f"Operator {op} not supported for field id.", code="1448")
    return Filter(steps, op, values)


def parse_orderby(text: str) -> tuple[OrderBy, ...]:
    orders = []
    for part in text.split(","):
        part = part.strip()
        descending = part.startswith("-")
        name = part[1:] if part[:1] in "+-" else part
        if not name or not all(_PATH_STEP.match(step) for step in name.split(".")):
            raise InvalidRequest(
                f"Incorrect field= {part} passed in orderBy, example are +name, -name, name.", code="1433"
            )
        orders.append(OrderBy(tuple(name.split(".")), descending))
    return tuple(orders)


def parse_list_query(params: Iterable[tuple[str, str]], *, allowed: Sequence[str] = ()) -> ListQuery:
    """Parse the query parameters of a list endpoint (``params`` may repeat ``property``)."""
    filters: list[Filter] = []
    order: tuple[OrderBy, ...] = ()
    limit: int | None = None
    offset = 0
    count_only = False
    extra: dict[str, str] = {}
    for key, value in params:
        if key == "property":
            filters.append(parse_filter(value))
        elif key == "orderby":
            order = parse_orderby(value)
        elif key == "limit":
            try:
                limit = int(value)
            except ValueError:
                raise InvalidRequest(f"Invalid value {value} for parameter limit.", code="1452") from None
            if not 1 <= limit <= MAX_LIMIT:
                raise InvalidRequest(f"The limit must be between 1 and {MAX_LIMIT}; got {limit}.", code="1452")
        elif key == "continuationToken":
            offset = decode_token(value)
        elif key == "count":
            count_only = value.strip().lower() == "true"
        elif key in allowed:
            extra[key] = value
        else:
            raise InvalidRequest(f"Invalid params {key} provided in query params.", code="1451")
    if count_only and limit is not None:
        raise InvalidRequest(
            "The limit and count parameters cannot be given together in the same request. Please provide "
            "either only the limit or the count parameter and try again.",
            code="1401",
        )
    return ListQuery(tuple(filters), order, limit or DEFAULT_LIMIT, offset, count_only, extra)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_offset: int | None
    total: int


def apply(query: ListQuery, docs: Iterable[dict[str, Any]], default_order: Callable[[dict[str, Any]], Any]) -> Page:
    """Filter, order and slice documents. The default order (newest first) keeps pages stable."""
    selected = [d for d in docs if all(f.matches(d) for f in query.filters)]
    selected.sort(key=default_order)
    for order in reversed(query.order):
        present = [d for d in selected if _first(d, order.path) is not None]
        absent = [d for d in selected if _first(d, order.path) is None]
        path = order.path
        present.sort(key=lambda d: _sort_key(_first(d, path)), reverse=order.descending)
        selected = present + absent
    total = len(selected)
    if query.count_only:
        return Page([], None, total)
    window = selected[query.offset : query.offset + query.limit]
    next_offset = query.offset + query.limit if query.offset + query.limit < total else None
    return Page(window, next_offset, total)


def creation_order(query: ListQuery) -> bool | None:
    """When the query's order is the creation order a store keeps as a column, whether it descends
    (the default order is newest first, ties by id); None for any other order."""
    if not query.order:
        return True
    if len(query.order) == 1 and query.order[0].path == ("createdAt",):
        return query.order[0].descending
    return None


def window(query: ListQuery, ordered: Iterable[dict[str, Any]]) -> Page:
    """``apply`` for documents already in the query's order (``creation_order``): filters as it reads and
    stops after the page plus one document, which says whether a next page exists. ``total`` is exact only
    for ``count`` queries, which read everything."""
    end = query.offset + query.limit
    items: list[dict[str, Any]] = []
    seen = 0
    for doc in ordered:
        if not all(f.matches(doc) for f in query.filters):
            continue
        if not query.count_only:
            if seen >= end:
                return Page(items, end, seen + 1)
            if seen >= query.offset:
                items.append(doc)
        seen += 1
    return Page(items, None, seen)


def decidable(f: Filter) -> bool:
    """Whether a store may decide ``f`` on a scalar leaf without changing the answer: a path of plain keys
    (no ``[]``) and printable ASCII values, whose lower-casing and ordering every database shares."""
    return not any(step.endswith("[]") for step in f.path) and all(printable_ascii(v) for v in f.values)


def printable_ascii(text: str) -> bool:
    return all(" " <= ch <= "~" for ch in text)


def numbers(f: Filter) -> list[float] | None:
    """The values of ``f`` a numeric leaf is compared with (as ``_compare`` parses them; a value that is not
    a number matches no numeric leaf), or None when one is infinite or NaN and a store should not decide."""
    parsed = []
    for text in f.values:
        try:
            value = float(text)
        except ValueError:
            continue
        if not math.isfinite(value):
            return None
        parsed.append(value)
    return parsed


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded))["o"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError
        return offset
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidRequest(f"Invalid continuationToken {token}.", code="1453") from None


def _split_values(raw: str) -> list[str]:
    """Split a comma list, keeping commas inside double quotes."""
    values: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in raw:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            values.append("".join(current))
            current = []
        else:
            current.append(ch)
    values.append("".join(current))
    return values


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _resolve(node: Any, path: Sequence[str]) -> Iterable[Any]:
    if not path:
        if isinstance(node, list):
            yield from node
        else:
            yield node
        return
    step, rest = path[0], path[1:]
    many = step.endswith("[]")
    key = step[:-2] if many else step
    if isinstance(node, list):
        for element in node:
            yield from _resolve(element, path)
        return
    if not isinstance(node, Mapping) or key not in node:
        return
    child = node[key]
    if many and isinstance(child, list):
        for element in child:
            yield from _resolve(element, rest)
    else:
        yield from _resolve(child, rest)


def _first(doc: Mapping[str, Any], path: Sequence[str]) -> Any:
    return next(iter(_resolve(doc, path)), None)


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value).lower())


def _compare(leaf: Any, op: str, text: str) -> bool:
    if leaf is None:
        return op == "==" and text.lower() == "null"
    if isinstance(leaf, bool):
        if op != "==":
            return False
        return str(leaf).lower() == text.lower()
    if isinstance(leaf, int | float):
        try:
            number = float(text)
        except ValueError:
            return False
        return _ordered(leaf, op, number)
    if isinstance(leaf, str):
        return _ordered(leaf.lower(), op, text.lower())
    return False


def _ordered(left: Any, op: str, right: Any) -> bool:
    if op == "==":
        return bool(left == right)
    if op == ">":
        return bool(left > right)
    if op == "<":
        return bool(left < right)
    if op == ">=":
        return bool(left >= right)
    if op == "<=":
        return bool(left <= right)
    return False
