"""Catalog's ``property=`` conditions and ``tags=`` filters, as Adobe documents them in "Filter Catalog data
using query parameters" (https://experienceleague.adobe.com/docs/experience-platform/catalog/api/filter-data.html).

``property=`` takes one top-level property and an optional operator: none (the property exists), ``!`` first
(it does not), ``==`` and ``!=`` (exact text; on ``name`` a ``*`` is a wildcard and ``**`` a literal star),
``~`` (a regular expression searched in the text), ``<``, ``<=``, ``>``, ``>=`` (numbers as numbers, dotted
versions such as ``1.0.10`` part by part, other text as text). An object without the property matches none of
the operators. ``tags=name:value,…`` needs every named tag to have a value matching (``*`` a wildcard).

Regular expressions come from tenants, so they run on RE2, whose time is linear in the text: a pattern built
to backtrack cannot stall the server. RE2 refuses what it cannot run that way (backreferences, lookaround),
and the refusal says so."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import re2

from flowservice.domain.errors import InvalidRequest

MAX_CONDITION = 256
MAX_TAG_FILTERS = 20
_CONDITION = re.compile(r"(?P<negated>!)?(?P<field>[^=!<>~]*)(?:(?P<op>==|!=|<=|>=|<|>|~)(?P<operand>.*))?", re.S)
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_NUMBER = re.compile(r"[+-]?[0-9]{1,20}(\.[0-9]{1,20})?")
_VERSION = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9}){1,9}")
_WILDCARD_FIELDS = ("name",)
_HINT = "e.g. property=name, property=!name, property=name==x, property=name~^x, property=version>1.0.3"


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # "exists", "missing", "==", "!=", "~", "<", "<=", ">", ">="
    operand: str = ""
    pattern: Any = None  # a compiled RE2 pattern, for "~" and for wildcards in "=="/"!="

    def matches(self, doc: dict[str, Any]) -> bool:
        value = doc.get(self.field)
        if self.op == "exists":
            return value is not None
        if self.op == "missing":
            return value is None
        if value is None or isinstance(value, (dict, list)):
            return False
        text = _text(value)
        if self.op in ("==", "!="):
            equal = bool(self.pattern.fullmatch(text)) if self.pattern is not None else text == self.operand
            return equal == (self.op == "==")
        if self.op == "~":
            return isinstance(value, str) and self.pattern.search(value) is not None
        return _compare(value, self.operand, self.op)


@dataclass(frozen=True)
class TagFilter:
    name: str
    pattern: Any  # compiled RE2, anchored, from the value with ``*`` as a wildcard

    def matches(self, doc: dict[str, Any]) -> bool:
        tags = doc.get("tags")
        values = tags.get(self.name) if isinstance(tags, dict) else None
        if not isinstance(values, list):
            return False
        return any(isinstance(v, str) and self.pattern.fullmatch(v) for v in values)


def parse_condition(raw: str) -> Condition:
    if len(raw) > MAX_CONDITION:
        raise InvalidRequest(f"A property condition is at most {MAX_CONDITION} characters long.")
    found = _CONDITION.fullmatch(raw)
    shown = raw[:64]
    if found is None:  # e.g. a single "=" after the property
        raise InvalidRequest(f"Invalid property condition {shown!r}: use one of ==, !=, <, <=, >, >=, ~ ({_HINT}).")
    negated, name, op, operand = found["negated"], found["field"], found["op"], found["operand"]
    if not _FIELD.fullmatch(name):
        detail = "only top-level properties can be filtered" if "." in name or "[" in name else "give a property"
        raise InvalidRequest(f"Invalid property condition {shown!r}: {detail} ({_HINT}).")
    if negated and op:
        raise InvalidRequest(
            f"Invalid property condition {shown!r}: '!' before a property takes no operator ({_HINT})."
        )
    if not op:
        return Condition(name, "missing" if negated else "exists")
    if op == "~":
        return Condition(name, op, operand, _regex(operand))
    if op in ("==", "!="):
        wildcard = name in _WILDCARD_FIELDS and "*" in operand
        return Condition(name, op, operand, _wildcard(operand, doubled_star=True) if wildcard else None)
    if not operand:
        raise InvalidRequest(f"Invalid property condition {shown!r}: '{op}' needs a value to compare with.")
    return Condition(name, op, operand)


def parse_tags(raw: str | None) -> list[TagFilter]:
    if raw is None:
        return []
    entries = raw.split(",")
    if len(entries) > MAX_TAG_FILTERS:
        raise InvalidRequest(f"The query parameter 'tags' takes at most {MAX_TAG_FILTERS} tags.")
    filters = []
    for entry in entries:
        name, colon, value = entry.strip().partition(":")
        if not colon or not _FIELD.fullmatch(name) or not value:
            raise InvalidRequest(
                f"Invalid tags entry {entry.strip()[:64]!r}: give {{TAG_NAME}}:{{TAG_VALUE}}, comma-separated, "
                "with * as a wildcard in the value (e.g. tags=sampleTag:123456,secondTag:*)."
            )
        filters.append(TagFilter(name, _wildcard(value, doubled_star=False)))
    return filters


def _regex(pattern: str) -> Any:
    try:
        return re2.compile(pattern, options=_QUIET)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise InvalidRequest(
            f"Invalid regular expression {pattern[:64]!r} in a property condition: {reason[:120]}. "
            "Regular expressions run on RE2: no backreferences or lookaround."
        ) from None


def _wildcard(value: str, *, doubled_star: bool) -> Any:
    """``*`` matches any text (empty included); with ``doubled_star``, ``**`` is one literal star."""
    parts = value.split("**") if doubled_star else [value]
    text = r"\*".join(".*".join(re2.escape(piece) for piece in part.split("*")) for part in parts)
    return re2.compile(text, options=_DOTALL)  # escaped text: it always compiles


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compare(value: Any, operand: str, op: str) -> bool:
    left: Any
    right: Any
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not _NUMBER.fullmatch(operand):
            return False
        left, right = value, float(operand)
    elif isinstance(value, str) and _VERSION.fullmatch(value) and _VERSION.fullmatch(operand):
        left, right = tuple(int(p) for p in value.split(".")), tuple(int(p) for p in operand.split("."))
    elif isinstance(value, str):
        left, right = value, operand
    else:
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _options(*, dot_nl: bool) -> Any:
    options = re2.Options()
    options.dot_nl = dot_nl
    options.log_errors = False  # a tenant's bad pattern is answered, not logged to stderr
    return options


_QUIET = _options(dot_nl=False)
_DOTALL = _options(dot_nl=True)
