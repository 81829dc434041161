"""The Data Prep expression language of ``EXPRESSION`` mappings: its errors, syntax tree, functions, tokenizer
and parser. Standard library only; ``services/mapping.py`` evaluates a parsed expression over Arrow columns.

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

Errors are ``ExpressionError`` (a ``MappingError``, code 1419) with the character position.

Expressions come from tenants, so their size is bounded before anything recurses over them: at most
``MAX_EXPRESSION_LENGTH`` characters, a syntax tree (or parenthesis nesting) at most ``MAX_EXPRESSION_DEPTH``
levels deep, number literals of at most ``MAX_NUMBER_LENGTH`` characters whose value fits the column types
(64-bit integers, finite doubles). Past a limit the parser raises ``ExpressionError`` naming it, never a
``RecursionError`` or a ``ValueError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, replace
from typing import TypeAlias

from flowservice.domain.errors import InvalidRequest

MAPPING_ERROR_CODE = "1419"

MAX_EXPRESSION_LENGTH = 8_192  # characters of one expression
MAX_EXPRESSION_DEPTH = 64  # levels of the syntax tree and of parentheses; the parser recurses ~6 frames a level
MAX_NUMBER_LENGTH = 64  # characters of one number literal
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # integer literals become int64 scalars


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


MAX_SUBSTR_BOUND = 2**31 - 1  # start + length must not overflow Arrow's int64 slice bounds


def _require_int_literal(call: Call, index: int, what: str) -> None:
    arg = call.args[index]
    if not (isinstance(arg, Literal) and isinstance(arg.value, int) and not isinstance(arg.value, bool)):
        raise ExpressionError(f"{call.function}() {what} must be an integer literal", arg.pos)
    if arg.value < 0:
        raise ExpressionError(f"{call.function}() {what} must not be negative", arg.pos)
    if arg.value > MAX_SUBSTR_BOUND:
        raise ExpressionError(f"{call.function}() {what} must be at most {MAX_SUBSTR_BOUND}", arg.pos)


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


def _number(raw: str, is_float: bool, pos: int) -> Scalar:
    """The value of a number literal, within the bounds of the column type it becomes."""
    if len(raw) > MAX_NUMBER_LENGTH:
        raise ExpressionError(f"number literal longer than {MAX_NUMBER_LENGTH} characters", pos)
    if is_float:
        value = float(raw)
        if value in (float("inf"), float("-inf")):
            raise ExpressionError("number literal out of the range of a double", pos)
        return value
    number = int(raw)
    if number > INT64_MAX + 1:  # -9223372036854775808 is negated after tokenizing; the tree walk checks it
        raise _out_of_range(pos)
    return number


def _out_of_range(pos: int) -> ExpressionError:
    return ExpressionError(f"integer literal out of the 64-bit range ({INT64_MIN} to {INT64_MAX})", pos)


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
            tokens.append(Token("number", raw, _number(raw, bool(m.group(1) or m.group(2)), i), i))
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


def _too_deep(pos: int) -> ExpressionError:
    return ExpressionError(f"expression nests deeper than {MAX_EXPRESSION_DEPTH} levels", pos)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0  # recursive descents in progress: bounded so the parser never exhausts the stack

    def _descend(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_EXPRESSION_DEPTH:
            raise _too_deep(pos)

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
            self._descend(op.pos)
            operand = self._not()
            self.depth -= 1
            return UnaryOp("!", operand, op.pos)
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
            self._descend(op.pos)
            operand = self._unary()
            self.depth -= 1
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
            self._descend(self._take().pos)
            inner = self._or()
            self._expect_op(")")
            self.depth -= 1
            return inner
        raise ExpressionError(f"expected a value but found {self._describe(tok)}", tok.pos)

    def _call(self, name: Token) -> Expr:
        self._descend(self._expect_op("(").pos)
        args: list[Expr] = []
        if not self._at_op(")"):
            args.append(self._or())
            while self._at_op(","):
                self._take()
                args.append(self._or())
        self._expect_op(")")
        self.depth -= 1
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
    """Parse one expression into an AST; raise ``ExpressionError`` naming the position of the problem, or
    the limit (length, depth, literal size) the expression exceeds."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters ({len(text)})")
    expr = _Parser(text).parse()
    _check_tree(expr)
    return expr


def _children(expr: Expr) -> tuple[Expr, ...]:
    if isinstance(expr, Call):
        return expr.args
    if isinstance(expr, UnaryOp):
        return (expr.operand,)
    if isinstance(expr, BinaryOp):
        return (expr.left, expr.right)
    return ()


def _check_tree(expr: Expr) -> None:
    """Refuse a tree deeper than ``MAX_EXPRESSION_DEPTH`` (a long ``||`` chain is built without recursion
    but is as deep as it is long), so every recursive walk over it (binding, evaluation) stays shallow; and
    integer literals outside int64 (known only once unary minus is folded in)."""
    stack: list[tuple[Expr, int]] = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPRESSION_DEPTH:
            raise _too_deep(node.pos)
        if isinstance(node, Literal) and isinstance(node.value, int) and not INT64_MIN <= node.value <= INT64_MAX:
            raise _out_of_range(node.pos)
        stack.extend((child, depth + 1) for child in _children(node))


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


def rename_columns(expr: Expr, names: MappingABC[str, str]) -> Expr:
    if isinstance(expr, ColumnRef):
        return replace(expr, name=names.get(expr.name, expr.name))
    if isinstance(expr, Call):
        return replace(expr, args=tuple(rename_columns(a, names) for a in expr.args))
    if isinstance(expr, UnaryOp):
        return replace(expr, operand=rename_columns(expr.operand, names))
    if isinstance(expr, BinaryOp):
        return replace(expr, left=rename_columns(expr.left, names), right=rename_columns(expr.right, names))
    return expr
