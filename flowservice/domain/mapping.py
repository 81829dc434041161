"""Mapping sets (Data Prep): what a flow does to each source row before it lands in the lake.

A mapping set is a list of mappings; each one fills one destination field from a source column
(``ATTRIBUTE``), a constant (``STATIC``) or an expression over source columns (``EXPRESSION``). This module
parses and validates both documented request forms and the expression language; it never touches data.
``services/mapping.py`` evaluates a parsed set column-wise over Arrow batches.

Accepted request forms (reference §8.2)::

    old:  {"xdmSchema": "...", "xdmVersion": "1.0", "version": 0,
           "mappings": [{"sourceAttribute": "name", "destinationXdmPath": "person.name.fullName",
                         "identity": false, "identityGroup": null, "namespaceCode": null, "version": 0}]}
    new:  {"outputSchema": {"schemaRef": {"id": "...", "contentType": "..."}},
           "mappings": [{"sourceType": "ATTRIBUTE", "source": "id", "destination": "_id",
                         "name": "id", "description": "Identifier field"}]}

Each mapping is read on its own, so a set may mix the two field spellings. An old-form mapping has no
``sourceType``: a source holding a parenthesis or a quote (``concat(contactid, "@org")``) is an
EXPRESSION, anything else a column name (ATTRIBUTE). ``sourceType`` is case-insensitive and also
accepts Data Prep's media types ``text/x.schema-path`` (ATTRIBUTE) and ``text/x.aep-xl`` (EXPRESSION).

The expression language is documented in ``docs/mapping.md``; the grammar::

    expression := or
    or         := and ( "||" and )*
    and        := not ( "&&" not )*
    not        := "!" not | comparison
    comparison := unary ( ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) unary )?
    unary      := "-" unary | primary
    primary    := NUMBER | STRING | "true" | "false" | "null"
                | NAME "(" [ expression ( "," expression )* ] ")"      a function call
                | NAME                                                  a source column
                | "(" expression ")"

Every error is an ``InvalidRequest`` with code 1419 ("Error while validating mapping") whose message names
the mapping (``mappings[2]``), the field and, for expressions, the character position.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, TypeAlias

from flowservice.domain.errors import InvalidRequest

MAPPING_ERROR_CODE = "1419"


class MappingError(InvalidRequest):
    """A mapping set (or one of its expressions) is invalid. Code 1419 per the Flow Service catalogue."""

    code = MAPPING_ERROR_CODE


class ExpressionError(MappingError):
    """An expression does not tokenize, parse or validate. ``position`` is a 0-based character offset."""

    def __init__(self, message: str, position: int | None = None) -> None:
        self.bare_message = message
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{message}{where}")


# ------------------------------------------------------------------------------------------------ AST

Scalar: TypeAlias = str | int | float | bool | None


@dataclass(frozen=True)
class Literal:
    value: Scalar
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ColumnRef:
    name: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    function: str  # lower-cased canonical name (aliases resolved)
    args: tuple[Expr, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class UnaryOp:
    op: str  # "!" or "-"
    operand: Expr
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class BinaryOp:
    op: str  # "==", "!=", "<", "<=", ">", ">=", "&&", "||"
    left: Expr
    right: Expr
    pos: int = field(default=0, compare=False)


Expr: TypeAlias = Literal | ColumnRef | Call | UnaryOp | BinaryOp

COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


# ------------------------------------------------------------------------------------------ functions


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    min_args: int
    max_args: int | None  # None: variadic
    signature: str
    check: Callable[[Call], None] | None = None  # extra checks on literal arguments


def _require_int_literal(call: Call, index: int, what: str) -> None:
    arg = call.args[index]
    if not (isinstance(arg, Literal) and isinstance(arg.value, int) and not isinstance(arg.value, bool)):
        raise ExpressionError(f"{call.function}() {what} must be an integer literal", arg.pos)
    if arg.value < 0:
        raise ExpressionError(f"{call.function}() {what} must not be negative", arg.pos)


def _check_substr(call: Call) -> None:
    _require_int_literal(call, 1, "start")
    _require_int_literal(call, 2, "length")


def _check_to_timestamp(call: Call) -> None:
    if len(call.args) == 2:
        fmt = call.args[1]
        if not (isinstance(fmt, Literal) and isinstance(fmt.value, str)):
            raise ExpressionError("to_timestamp() format must be a string literal", fmt.pos)
        try:
            strptime_format(fmt.value)
        except ValueError as exc:
            raise ExpressionError(f"to_timestamp() format: {exc}", fmt.pos) from None


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        FunctionSpec("concat", 1, None, "concat(value, ...)"),
        FunctionSpec("lower", 1, 1, "lower(text)"),
        FunctionSpec("upper", 1, 1, "upper(text)"),
        FunctionSpec("trim", 1, 1, "trim(text)"),
        FunctionSpec("substr", 3, 3, "substr(text, start, length)", _check_substr),
        FunctionSpec("to_string", 1, 1, "to_string(value)"),
        FunctionSpec("to_timestamp", 1, 2, "to_timestamp(value[, format])", _check_to_timestamp),
        FunctionSpec("iif", 3, 3, "iif(condition, then, else)"),
        FunctionSpec("coalesce", 1, None, "coalesce(value, ...)"),
        FunctionSpec("is_null", 1, 1, "is_null(value)"),
        FunctionSpec("is_not_null", 1, 1, "is_not_null(value)"),
    )
}
# Data Prep spellings of the same functions.
FUNCTION_ALIASES = {"lcase": "lower", "ucase": "upper"}


_JAVA_FORMAT_TOKENS = [
    ("yyyy", "%Y"), ("YYYY", "%Y"), ("yy", "%y"), ("MM", "%m"), ("dd", "%d"), ("DD", "%d"),
    ("HH", "%H"), ("mm", "%M"), ("ss", "%S"), ("XXX", "%z"), ("XX", "%z"), ("X", "%z"), ("Z", "%z"),
]  # fmt: skip


def strptime_format(fmt: str) -> str:
    """Return the strptime form of a date format.

    A format containing ``%`` is taken as strptime already. Otherwise it is read as the Java-style pattern
    that Data Prep and the ``deltaColumn.dateFormat`` use (``yyyy-MM-dd'T'HH:mm:ssZ``): the letters listed in
    ``_JAVA_FORMAT_TOKENS``, quoted literals, and any non-letter as itself.
    """
    if "%" in fmt:
        return fmt
    out: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "'":
            end = fmt.find("'", i + 1)
            if end < 0:
                raise ValueError(f"unterminated quote in date format {fmt!r}")
            out.append(fmt[i + 1 : end] if end > i + 1 else "'")
            i = end + 1
            continue
        for token, directive in _JAVA_FORMAT_TOKENS:
            if fmt.startswith(token, i):
                out.append(directive)
                i += len(token)
                break
        else:
            if ch.isalpha():
                if ch == "T":  # the ISO separator, commonly written unquoted
                    out.append("T")
                    i += 1
                    continue
                raise ValueError(f"unsupported pattern letter {ch!r} in date format {fmt!r}")
            out.append(ch)
            i += 1
    return "".join(out)


# ------------------------------------------------------------------------------------------ tokenizer

_NUMBER = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "-", "(", ")", ",")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_KEYWORDS: dict[str, Scalar] = {"true": True, "false": False, "null": None}


@dataclass(frozen=True)
class Token:
    kind: str  # "number", "string", "name", "op", "end"
    text: str
    value: Scalar
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "\"'":
            start, i, chars = i, i + 1, []
            while True:
                if i >= n:
                    raise ExpressionError("unterminated string literal", start)
                c = text[i]
                if c == ch:
                    i += 1
                    break
                if c == "\\":
                    if i + 1 >= n or text[i + 1] not in _ESCAPES:
                        raise ExpressionError("invalid escape in string literal", i)
                    chars.append(_ESCAPES[text[i + 1]])
                    i += 2
                    continue
                chars.append(c)
                i += 1
            tokens.append(Token("string", text[start:i], "".join(chars), start))
            continue
        if ch.isdigit():
            m = _NUMBER.match(text, i)
            assert m is not None
            raw = m.group(0)
            value: Scalar = float(raw) if (m.group(1) or m.group(2)) else int(raw)
            tokens.append(Token("number", raw, value, i))
            i = m.end()
            continue
        m = _NAME.match(text, i)
        if m:
            tokens.append(Token("name", m.group(0), None, i))
            i = m.end()
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token("op", op, None, i))
                i += len(op)
                break
        else:
            raise ExpressionError(f"unexpected character {ch!r}", i)
    tokens.append(Token("end", "", None, n))
    return tokens


# --------------------------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def _expect_op(self, op: str) -> Token:
        if not self._at_op(op):
            raise ExpressionError(f"expected {op!r} but found {self._describe(self.tok)}", self.tok.pos)
        return self._take()

    @staticmethod
    def _describe(tok: Token) -> str:
        return "end of expression" if tok.kind == "end" else repr(tok.text)

    def parse(self) -> Expr:
        if self.tok.kind == "end":
            raise ExpressionError("empty expression", 0)
        expr = self._or()
        if self.tok.kind != "end":
            raise ExpressionError(f"unexpected {self._describe(self.tok)}", self.tok.pos)
        return expr

    def _or(self) -> Expr:
        left = self._and()
        while self._at_op("||"):
            op = self._take()
            left = BinaryOp("||", left, self._and(), op.pos)
        return left

    def _and(self) -> Expr:
        left = self._not()
        while self._at_op("&&"):
            op = self._take()
            left = BinaryOp("&&", left, self._not(), op.pos)
        return left

    def _not(self) -> Expr:
        if self._at_op("!"):
            op = self._take()
            return UnaryOp("!", self._not(), op.pos)
        return self._comparison()

    def _comparison(self) -> Expr:
        left = self._unary()
        if self.tok.kind == "op" and self.tok.text in COMPARISONS:
            op = self._take()
            left = BinaryOp(op.text, left, self._unary(), op.pos)
            if self.tok.kind == "op" and self.tok.text in COMPARISONS:
                raise ExpressionError("comparisons cannot be chained; use &&", self.tok.pos)
        return left

    def _unary(self) -> Expr:
        if self._at_op("-"):
            op = self._take()
            operand = self._unary()
            if (
                isinstance(operand, Literal)
                and isinstance(operand.value, int | float)
                and not isinstance(operand.value, bool)
            ):
                return Literal(-operand.value, op.pos)
            return UnaryOp("-", operand, op.pos)
        return self._primary()

    def _primary(self) -> Expr:
        tok = self.tok
        if tok.kind in ("number", "string"):
            self._take()
            return Literal(tok.value, tok.pos)
        if tok.kind == "name":
            self._take()
            if self._at_op("("):
                return self._call(tok)
            keyword = tok.text.lower()
            if keyword in _KEYWORDS:
                return Literal(_KEYWORDS[keyword], tok.pos)
            return ColumnRef(tok.text, tok.pos)
        if self._at_op("("):
            self._take()
            inner = self._or()
            self._expect_op(")")
            return inner
        raise ExpressionError(f"expected a value but found {self._describe(tok)}", tok.pos)

    def _call(self, name: Token) -> Expr:
        self._expect_op("(")
        args: list[Expr] = []
        if not self._at_op(")"):
            args.append(self._or())
            while self._at_op(","):
                self._take()
                args.append(self._or())
        self._expect_op(")")
        lowered = name.text.lower()
        canonical = FUNCTION_ALIASES.get(lowered, lowered)
        spec = FUNCTIONS.get(canonical)
        if spec is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(f"unknown function {name.text!r} (known: {known})", name.pos)
        if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
            most = spec.max_args
            if most is None:
                wanted = f"at least {spec.min_args}"
            elif spec.min_args == most:
                wanted = str(most)
            else:
                wanted = f"{spec.min_args} to {most}"
            plural = "" if (most or spec.min_args) == 1 else "s"
            raise ExpressionError(
                f"{spec.name}() takes {wanted} argument{plural}, got {len(args)} (usage: {spec.signature})",
                name.pos,
            )
        call = Call(canonical, tuple(args), name.pos)
        if spec.check is not None:
            spec.check(call)
        return call


def parse_expression(text: str) -> Expr:
    """Parse one expression into an AST; raise ``ExpressionError`` naming the position of the problem."""
    return _Parser(text).parse()


def columns_of(expr: Expr) -> list[ColumnRef]:
    """Every column reference in ``expr``, in reading order."""
    if isinstance(expr, ColumnRef):
        return [expr]
    if isinstance(expr, Call):
        return [ref for arg in expr.args for ref in columns_of(arg)]
    if isinstance(expr, UnaryOp):
        return columns_of(expr.operand)
    if isinstance(expr, BinaryOp):
        return columns_of(expr.left) + columns_of(expr.right)
    return []


def _rename_columns(expr: Expr, names: MappingABC[str, str]) -> Expr:
    if isinstance(expr, ColumnRef):
        return replace(expr, name=names.get(expr.name, expr.name))
    if isinstance(expr, Call):
        return replace(expr, args=tuple(_rename_columns(a, names) for a in expr.args))
    if isinstance(expr, UnaryOp):
        return replace(expr, operand=_rename_columns(expr.operand, names))
    if isinstance(expr, BinaryOp):
        return replace(expr, left=_rename_columns(expr.left, names), right=_rename_columns(expr.right, names))
    return expr


# ------------------------------------------------------------------------------------------- mappings


class SourceType(StrEnum):
    ATTRIBUTE = "ATTRIBUTE"
    EXPRESSION = "EXPRESSION"
    STATIC = "STATIC"


_SOURCE_TYPE_ALIASES = {
    "attribute": SourceType.ATTRIBUTE,
    "expression": SourceType.EXPRESSION,
    "static": SourceType.STATIC,
    "text/x.schema-path": SourceType.ATTRIBUTE,
    "text/x.aep-xl": SourceType.EXPRESSION,
}


@dataclass(frozen=True)
class Mapping:
    """One destination field and how to fill it.

    ``expr`` is what the evaluator runs: a ``ColumnRef`` for ATTRIBUTE, a ``Literal`` for STATIC, the parsed
    AST for EXPRESSION. ``path`` is the destination split on dots; nested paths become struct columns.
    """

    source_type: SourceType
    source: Scalar
    destination: str
    path: tuple[str, ...]
    expr: Expr
    name: str | None = None
    description: str | None = None
    identity: bool = False
    identity_group: str | None = None
    namespace_code: str | None = None
    # The request's spellings of the two fields, so errors name the field the client actually sent.
    source_field: str = field(default="source", compare=False)
    destination_field: str = field(default="destination", compare=False)


@dataclass(frozen=True)
class MappingSet:
    mappings: tuple[Mapping, ...]
    schema_ref: str | None = None
    schema_content_type: str | None = None
    xdm_version: str | None = None
    version: int | str | None = None
    id: str | None = None

    def source_columns(self) -> list[str]:
        """The source columns the set reads, in first-use order: what a run needs to ask the source for."""
        seen: dict[str, None] = {}
        for m in self.mappings:
            for ref in columns_of(m.expr):
                seen.setdefault(ref.name, None)
        return list(seen)

    def destination_for(self, column: str) -> str | None:
        """Where the first ATTRIBUTE mapping copying ``column`` puts it (e.g. where the primary key lands)."""
        for m in self.mappings:
            if m.source_type is SourceType.ATTRIBUTE and isinstance(m.expr, ColumnRef) and m.expr.name == column:
                return m.destination
        return None

    def bind(self, columns: Iterable[str]) -> MappingSet:
        """Check every column reference against the source's columns; return the set with names resolved.

        An exact match wins; otherwise a unique case-insensitive match is taken (Adobe's examples write
        ``Name`` where Dataverse's logical name is ``name``). Unknown columns raise ``MappingError``
        naming the mapping, the column and the closest known names.
        """
        known = list(columns)
        exact = set(known)
        folded: dict[str, list[str]] = {}
        for c in known:
            folded.setdefault(c.lower(), []).append(c)
        resolved: list[Mapping] = []
        for index, m in enumerate(self.mappings):
            renames: dict[str, str] = {}
            for ref in columns_of(m.expr):
                if ref.name in exact:
                    continue
                candidates = folded.get(ref.name.lower(), [])
                if len(candidates) == 1:
                    renames[ref.name] = candidates[0]
                    continue
                hint = sorted(candidates) or difflib.get_close_matches(ref.name, known, n=3)
                problem = "ambiguous (case differs)" if candidates else "unknown"
                where = f" at position {ref.pos}" if m.source_type is SourceType.EXPRESSION else ""
                suggestion = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
                raise MappingError(
                    f"mappings[{index}].{m.source_field}: {problem} source column {ref.name!r}{where}"
                    f" (destination {m.destination!r}){suggestion}"
                )
            if renames:
                expr = _rename_columns(m.expr, renames)
                source = m.source
                if m.source_type is SourceType.ATTRIBUTE and isinstance(expr, ColumnRef):
                    source = expr.name
                m = replace(m, expr=expr, source=source)
            resolved.append(m)
        return replace(self, mappings=tuple(resolved))

    def validate_against(self, columns: set[str]) -> None:
        """Raise ``MappingError`` when a mapping reads a column the source does not have."""
        self.bind(columns)

    def to_dict(self) -> dict[str, Any]:
        """The new (``outputSchema``/``sourceType``) form; ``parse_mapping_set`` reads it back unchanged."""
        body: dict[str, Any] = {}
        if self.id is not None:
            body["id"] = self.id
        if self.version is not None:
            body["version"] = self.version
        if self.schema_ref is not None:
            ref: dict[str, Any] = {"id": self.schema_ref}
            if self.schema_content_type is not None:
                ref["contentType"] = self.schema_content_type
            body["outputSchema"] = {"schemaRef": ref}
        if self.xdm_version is not None:
            body["xdmVersion"] = self.xdm_version
        items = []
        for m in self.mappings:
            item: dict[str, Any] = {
                "sourceType": m.source_type.value,
                "source": m.source,
                "destination": m.destination,
            }
            if m.name is not None:
                item["name"] = m.name
            if m.description is not None:
                item["description"] = m.description
            if m.identity:
                item["identity"] = True
                item["identityGroup"] = m.identity_group
                item["namespaceCode"] = m.namespace_code
            items.append(item)
        body["mappings"] = items
        return body

    @classmethod
    def identity(cls, columns: Sequence[str]) -> MappingSet:
        """Every column copied as-is under its own name (a flow without a Mapping transformation).

        Paths are single segments even when a name holds a dot: the column is copied, not nested.
        """
        return cls(tuple(Mapping(SourceType.ATTRIBUTE, c, c, (c,), ColumnRef(c), name=c) for c in columns))


def _optional_str(item: MappingABC[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is None or isinstance(value, str):
        return value
    raise MappingError(f"{where}.{key} must be a string")


def _destination_path(destination: str, where: str, key: str) -> tuple[str, ...]:
    if destination != destination.strip():
        raise MappingError(f"{where}.{key} {destination!r} has leading or trailing whitespace")
    path = tuple(destination.split("."))
    if any(not segment for segment in path):
        raise MappingError(f"{where}.{key} {destination!r} has an empty path segment")
    if any(ch in destination for ch in "[]"):
        raise MappingError(f"{where}.{key} {destination!r}: array paths are not supported")
    return path


def _parse_source_type(raw: Any, where: str) -> SourceType:
    if not isinstance(raw, str) or raw.lower() not in _SOURCE_TYPE_ALIASES:
        raise MappingError(f"{where}.sourceType {raw!r} is not one of ATTRIBUTE, EXPRESSION, STATIC")
    return _SOURCE_TYPE_ALIASES[raw.lower()]


def _parse_mapping(item: Any, index: int) -> Mapping:
    where = f"mappings[{index}]"
    if not isinstance(item, dict):
        raise MappingError(f"{where} must be an object")
    old_form = "destinationXdmPath" in item or "sourceAttribute" in item

    dest_key = "destinationXdmPath" if "destinationXdmPath" in item else "destination"
    destination = item.get(dest_key)
    if destination is None or destination == "":
        raise MappingError(f"{where}.{dest_key} is required")
    if not isinstance(destination, str):
        raise MappingError(f"{where}.{dest_key} must be a string")
    path = _destination_path(destination, where, dest_key)

    src_key = "sourceAttribute" if "sourceAttribute" in item else "source"
    has_source = src_key in item
    source = item.get(src_key)

    if item.get("sourceType") is not None:
        source_type = _parse_source_type(item["sourceType"], where)
    elif old_form or has_source:
        # The old form has no sourceType: a call or a literal is an expression, anything else a column.
        source_type = (
            SourceType.EXPRESSION
            if isinstance(source, str) and any(ch in source for ch in "(\"'")
            else SourceType.ATTRIBUTE
        )
    else:
        raise MappingError(f"{where}.sourceType is required (ATTRIBUTE, EXPRESSION or STATIC)")

    expr: Expr
    if source_type is SourceType.STATIC:
        if not has_source:
            raise MappingError(f"{where}.{src_key} is required for a STATIC mapping (null is allowed)")
        if not (source is None or isinstance(source, str | int | float | bool)):
            raise MappingError(f"{where}.{src_key} of a STATIC mapping must be a string, number, boolean or null")
        expr = Literal(source)
    else:
        if not isinstance(source, str) or not source.strip():
            raise MappingError(f"{where}.{src_key} is required and must be a non-empty string")
        if source_type is SourceType.ATTRIBUTE:
            # A column name, copied as-is: no parsing, so any column name the source reports works.
            source = source.strip()
            expr = ColumnRef(source)
        else:
            try:
                expr = parse_expression(source)
            except ExpressionError as exc:
                raise MappingError(f"{where}.{src_key}: {exc.message} in expression {source!r}") from None

    identity = item.get("identity", False)
    if identity is None:
        identity = False
    if not isinstance(identity, bool):
        raise MappingError(f"{where}.identity must be a boolean")
    return Mapping(
        source_type=source_type,
        source=source,
        destination=destination,
        path=path,
        expr=expr,
        name=_optional_str(item, "name", where),
        description=_optional_str(item, "description", where),
        identity=identity,
        identity_group=_optional_str(item, "identityGroup", where),
        namespace_code=_optional_str(item, "namespaceCode", where),
        source_field=src_key,
        destination_field=dest_key,
    )


def _check_destinations(mappings: Sequence[Mapping]) -> None:
    """Reject duplicates and leaf/struct clashes. Case-insensitive: Delta Lake column names are."""
    leaves: dict[tuple[str, ...], int] = {}
    prefixes: dict[tuple[str, ...], int] = {}
    for index, m in enumerate(mappings):
        key = tuple(s.lower() for s in m.path)
        if key in leaves:
            other = mappings[leaves[key]]
            raise MappingError(
                f"mappings[{index}].{m.destination_field} {m.destination!r} duplicates "
                f"mappings[{leaves[key]}].{other.destination_field} {other.destination!r}"
            )
        if key in prefixes:
            other = mappings[prefixes[key]]
            raise MappingError(
                f"mappings[{index}].{m.destination_field} {m.destination!r} is a struct in "
                f"mappings[{prefixes[key]}].{other.destination_field} {other.destination!r}; "
                "a field cannot be both"
            )
        for n in range(1, len(key)):
            if key[:n] in leaves:
                other = mappings[leaves[key[:n]]]
                raise MappingError(
                    f"mappings[{index}].{m.destination_field} {m.destination!r} nests under "
                    f"mappings[{leaves[key[:n]]}].{other.destination_field} {other.destination!r}, "
                    "which is a value"
                )
            prefixes.setdefault(key[:n], index)
        leaves[key] = index


def parse_mapping_set(body: dict[str, Any]) -> MappingSet:
    """Parse a ``POST /mappingSets`` body in either documented form; raise ``MappingError`` (1419)."""
    if not isinstance(body, dict):
        raise MappingError("the mapping set must be a JSON object")
    mappings_raw = body.get("mappings")
    if not isinstance(mappings_raw, list) or not mappings_raw:
        raise MappingError("mappings is required and must be a non-empty array")
    mappings = tuple(_parse_mapping(item, i) for i, item in enumerate(mappings_raw))
    _check_destinations(mappings)

    schema_ref: str | None = None
    content_type: str | None = None
    output_schema = body.get("outputSchema")
    if output_schema is not None:
        if not isinstance(output_schema, dict):
            raise MappingError("outputSchema must be an object")
        ref = output_schema.get("schemaRef")
        if ref is not None:
            if not isinstance(ref, dict):
                raise MappingError("outputSchema.schemaRef must be an object")
            schema_ref = _optional_str(ref, "id", "outputSchema.schemaRef")
            content_type = _optional_str(ref, "contentType", "outputSchema.schemaRef")
    if schema_ref is None:
        schema_ref = _optional_str(body, "xdmSchema", "mapping set")

    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int | str)):
        raise MappingError("version must be an integer or a string")
    xdm_version = body.get("xdmVersion")
    if xdm_version is not None and not isinstance(xdm_version, str | int | float):
        raise MappingError("xdmVersion must be a string")
    set_id = body.get("id")
    return MappingSet(
        mappings=mappings,
        schema_ref=schema_ref,
        schema_content_type=content_type,
        xdm_version=None if xdm_version is None else str(xdm_version),
        version=version,
        id=set_id if isinstance(set_id, str) else None,
    )
