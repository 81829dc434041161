"""OData query options: a tokenizer and parser for ``$filter``, plus ``$select``/``$orderby``/``$expand``.

The parser produces a small AST; binding it to a table (``compile_filter``) checks every property and literal
type the way Dataverse does (unknown property → the documented 400, a quoted GUID compared with a GUID column →
incompatible types) and returns a predicate with SQL three-valued logic: a comparison with a null is unknown,
so ``not (x gt 5)`` does not match rows where ``x`` is null. String comparisons are case-insensitive and
``contains``/``startswith``/``endswith`` honour SQL LIKE wildcards (``%``, ``_``, ``[]``, ``[^]``), as the
reference §4.1 documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_emulator.errors import DataverseError, bad_request, property_not_found, unsupported
from crm_emulator.ids import sql_key
from crm_emulator.schema import DECIMAL_TYPES, GUID_TYPES, INTEGER_TYPES, STRING_TYPES, Column, Table

TOKEN = re.compile(
    r"""\s*(?:
    (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
  | (?P<string>'(?:[^']|'')*')
  | (?P<dstring>"(?:[^"\\]|\\.)*")
  | (?P<enum>[A-Za-z_][\w.]*'(?:[^']|'')*')
  | (?P<alias>@\w+)
  | (?P<name>[A-Za-z_$][\w.$]*)
  | (?P<punct>[(),/\[\]=])
    )""",
    re.VERBOSE,
)
COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
STRING_FUNCTIONS = {"contains", "startswith", "endswith"}
CRM_FUNCTIONS = {"In", "NotIn", "Between", "NotBetween", "ContainValues", "DoesNotContainValues", "Null", "NotNull"}
CRM_PREFIX = "Microsoft.Dynamics.CRM."

#: A path segment addressing one item: ``accounts(<guid>)``, ``EntityDefinitions(LogicalName='x')``.
KEY = re.compile(r"^([A-Za-z0-9_]+)\((.*)\)$")


@dataclass
class Tok:
    kind: str
    text: str


def tokenize(text: str, aliases: dict[str, str] | None = None) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise bad_request(f"Syntax error at position {pos} in '{text}'.")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "alias":
            if aliases is None or value not in aliases:
                raise bad_request(f"The parameter alias '{value}' has no value.")
            out.extend(tokenize(aliases[value]))
            continue
        out.append(Tok(kind, value))
    return out


# --- AST ---------------------------------------------------------------------------------------------------
@dataclass
class Prop:
    path: tuple[str, ...]


@dataclass
class Lit:
    kind: str  # string int decimal float bool null guid datetime date enum
    value: Any


@dataclass
class Cmp:
    op: str
    left: Any
    right: Any


@dataclass
class Logic:
    op: str  # and | or | not
    args: list[Any]


@dataclass
class Call:
    name: str
    args: list[Any]
    named: dict[str, Any]


class Parser:
    def __init__(self, tokens: list[Tok], source: str) -> None:
        self.toks = tokens
        self.pos = 0
        self.source = source

    def peek(self, offset: int = 0) -> Tok | None:
        k = self.pos + offset
        return self.toks[k] if k < len(self.toks) else None

    def next(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise bad_request(f"Syntax error: unexpected end of expression '{self.source}'.")
        self.pos += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.next()
        if tok.text != text:
            raise bad_request(f"Syntax error: expected '{text}' but found '{tok.text}' in '{self.source}'.")

    def word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "name" and tok.text in words

    def parse(self) -> Any:
        node = self.parse_or()
        if self.peek() is not None:
            raise bad_request(f"Syntax error at '{self.peek().text}' in '{self.source}'.")  # type: ignore[union-attr]
        return node

    def parse_or(self) -> Any:
        node = self.parse_and()
        while self.word("or"):
            self.next()
            node = Logic("or", [node, self.parse_and()])
        return node

    def parse_and(self) -> Any:
        node = self.parse_not()
        while self.word("and"):
            self.next()
            node = Logic("and", [node, self.parse_not()])
        return node

    def parse_not(self) -> Any:
        if self.word("not"):
            self.next()
            return Logic("not", [self.parse_not()])
        return self.parse_cmp()

    def parse_cmp(self) -> Any:
        left = self.parse_primary()
        tok = self.peek()
        if tok is not None and tok.kind == "name" and tok.text in COMPARISONS:
            self.next()
            return Cmp(tok.text, left, self.parse_primary())
        if tok is not None and tok.kind == "name" and tok.text in ("has", "add", "sub", "mul", "div", "mod", "in"):
            raise unsupported(f"The '{tok.text}' operator")
        return left

    def parse_primary(self) -> Any:
        tok = self.next()
        if tok.text == "(":
            node = self.parse_or()
            self.expect(")")
            return node
        if tok.kind in ("string", "dstring"):
            return Lit("string", _unquote(tok.text))
        if tok.kind == "number":
            return _number(tok.text)
        if tok.kind == "guid":
            return Lit("guid", tok.text.lower())
        if tok.kind == "datetime":
            return Lit("datetime", _parse_datetime(tok.text))
        if tok.kind == "date":
            return Lit("date", date.fromisoformat(tok.text))
        if tok.kind == "enum":
            type_name, _, rest = tok.text.partition("'")
            return Lit("enum", (type_name, rest[:-1].replace("''", "'")))
        if tok.kind == "name":
            if tok.text in ("true", "false"):
                return Lit("bool", tok.text == "true")
            if tok.text == "null":
                return Lit("null", None)
            nxt = self.peek()
            if nxt is not None and nxt.text == "(":
                return self.parse_call(tok.text)
            path = [tok.text]
            while self.peek() is not None and self.peek().text == "/":  # type: ignore[union-attr]
                self.next()
                seg = self.next()
                if seg.kind != "name":
                    raise bad_request(f"Syntax error in property path near '{seg.text}'.")
                path.append(seg.text)
                if self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
                    raise unsupported(f"Lambda or function on '{'/'.join(path)}'")
            return Prop(tuple(path))
        raise bad_request(f"Syntax error at '{tok.text}' in '{self.source}'.")

    def parse_call(self, name: str) -> Call:
        self.expect("(")
        args: list[Any] = []
        named: dict[str, Any] = {}
        if self.peek() is not None and self.peek().text == ")":  # type: ignore[union-attr]
            self.next()
            return Call(name, args, named)
        while True:
            tok, after = self.peek(), self.peek(1)
            if tok is not None and tok.kind == "name" and after is not None and after.text == "=":
                self.next()
                self.next()
                named[tok.text] = self.parse_value_or_array()
            else:
                args.append(self.parse_or())
            sep = self.next()
            if sep.text == ")":
                return Call(name, args, named)
            if sep.text != ",":
                raise bad_request(f"Syntax error in call to {name}: unexpected '{sep.text}'.")

    def parse_value_or_array(self) -> Any:
        if self.peek() is not None and self.peek().text == "[":  # type: ignore[union-attr]
            self.next()
            items: list[Any] = []
            while True:
                tok = self.next()
                if tok.text == "]":
                    return items
                if tok.text == ",":
                    continue
                items.append(_unquote(tok.text) if tok.kind in ("string", "dstring") else tok.text)
        return self.parse_primary()


def _unquote(text: str) -> str:
    if text.startswith('"'):
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text[1:-1].replace("''", "'")


def _number(text: str) -> Lit:
    body = text.rstrip("mMdDfFlL")
    if re.fullmatch(r"-?\d+", body):
        return Lit("int", int(body))
    try:
        return Lit("decimal", Decimal(body))
    except InvalidOperation as exc:
        raise bad_request(f"Invalid number literal '{text}'.") from exc


def _parse_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_filter(text: str, aliases: dict[str, str] | None = None) -> Any:
    return Parser(tokenize(text, aliases), text).parse()


# --- binding to a table ------------------------------------------------------------------------------------
Predicate = Callable[[Any], "bool | None"]

EDM_NAMES = {
    "string": "Edm.String",
    "int": "Edm.Int32",
    "decimal": "Edm.Decimal",
    "bool": "Edm.Boolean",
    "guid": "Edm.Guid",
    "datetime": "Edm.DateTimeOffset",
    "date": "Edm.Date",
    "enum": "Edm.Enum",
}
OP_KINDS = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}


def _incompatible(col: Column, lit: Lit, op: str) -> DataverseError:
    return bad_request(
        "A binary operator with incompatible types was detected. Found operand types "
        f"'{col.edm_type}' and '{EDM_NAMES.get(lit.kind, lit.kind)}' for operator kind '{OP_KINDS.get(op, op)}'."
    )


def coerce(col: Column, lit: Lit, op: str = "eq") -> Any:
    """Turn a literal into the column's value type, or raise the error Dataverse gives for a mismatch."""
    t = col.type_name
    if lit.kind == "null":
        return None
    if t in STRING_TYPES:
        if lit.kind != "string":
            raise _incompatible(col, lit, op)
        return lit.value
    if t in GUID_TYPES:
        if lit.kind != "guid":
            raise _incompatible(col, lit, op)
        return lit.value
    if t in INTEGER_TYPES:
        if lit.kind != "int":
            raise _incompatible(col, lit, op)
        return lit.value
    if t in DECIMAL_TYPES:
        if lit.kind not in ("int", "decimal"):
            raise _incompatible(col, lit, op)
        return Decimal(lit.value)
    if t == "DoubleType":
        if lit.kind not in ("int", "decimal"):
            raise _incompatible(col, lit, op)
        return float(lit.value)
    if t == "BooleanType":
        if lit.kind != "bool":
            raise _incompatible(col, lit, op)
        return lit.value
    if t == "DateTimeType":
        if lit.kind == "datetime":
            return lit.value.date() if col.date_only else lit.value
        if lit.kind == "date":
            return lit.value if col.date_only else datetime(lit.value.year, lit.value.month, lit.value.day, tzinfo=UTC)
        raise _incompatible(col, lit, op)
    raise unsupported(f"Filtering on the {col.attribute_type} column '{col.prop}'")


def coerce_text(col: Column, text: str) -> Any:
    """Coerce a ``PropertyValues`` item (always text) to the column type."""
    t = col.type_name
    try:
        if t in INTEGER_TYPES:
            return int(text)
        if t in DECIMAL_TYPES:
            return Decimal(text)
        if t == "DoubleType":
            return float(text)
        if t == "BooleanType":
            return text.lower() == "true"
        if t == "DateTimeType":
            value = _parse_datetime(text) if "T" in text else datetime.fromisoformat(text).replace(tzinfo=UTC)
            return value.date() if col.date_only else value
        if t in GUID_TYPES:
            return text.lower().strip("{}")
    except ValueError as exc:
        raise bad_request(f"The value '{text}' is not valid for the column '{col.prop}'.") from exc
    return text


def sort_value(col: Column | None, value: Any) -> Any:
    """A comparable form: case-insensitive strings, SQL Server order for GUIDs."""
    if value is None:
        return None
    if col is not None and col.type_name in GUID_TYPES:
        return sql_key(value)
    if isinstance(value, str):
        return value.casefold()
    return value


def like_regex(pattern: str, kind: str) -> re.Pattern[str]:
    out = []
    k = 0
    while k < len(pattern):
        ch = pattern[k]
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", k + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                inner = pattern[k + 1 : end]
                neg = inner.startswith("^")
                body = re.escape(inner[1:] if neg else inner).replace("\\-", "-")
                out.append(f"[{'^' if neg else ''}{body}]")
                k = end
        else:
            out.append(re.escape(ch))
        k += 1
    body = "".join(out)
    if kind == "contains":
        body = f".*{body}.*"
    elif kind == "startswith":
        body = f"{body}.*"
    elif kind == "endswith":
        body = f".*{body}"
    return re.compile(body, re.IGNORECASE | re.DOTALL)


def _compare(op: str, a: Any, b: Any) -> bool | None:
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    try:
        if op == "gt":
            return bool(a > b)
        if op == "ge":
            return bool(a >= b)
        if op == "lt":
            return bool(a < b)
        return bool(a <= b)
    except TypeError:
        return None


def compile_filter(node: Any, table: Table) -> Predicate:
    """Bind a parsed ``$filter`` to a table's columns; the predicate takes a row view with ``.get``."""

    def column(prop: Prop) -> Column:
        if len(prop.path) > 1:
            raise unsupported(f"Filtering on the related table path '{'/'.join(prop.path)}'")
        col = table.by_prop.get(prop.path[0])
        if col is None:
            raise property_not_found(prop.path[0], table.logical_name)
        return col

    def bind(n: Any) -> Predicate:
        if isinstance(n, Logic):
            parts = [bind(a) for a in n.args]
            if n.op == "not":
                inner = parts[0]

                def negate(row: Any) -> bool | None:
                    v = inner(row)
                    return None if v is None else not v

                return negate
            if n.op == "and":
                left, right = parts

                def both(row: Any) -> bool | None:
                    a = left(row)
                    if a is False:
                        return False
                    b = right(row)
                    if b is False:
                        return False
                    return None if a is None or b is None else True

                return both
            left, right = parts

            def either(row: Any) -> bool | None:
                a = left(row)
                if a is True:
                    return True
                b = right(row)
                if b is True:
                    return True
                return None if a is None or b is None else False

            return either
        if isinstance(n, Cmp):
            return bind_cmp(n)
        if isinstance(n, Call):
            return bind_call(n)
        if isinstance(n, Prop):
            col = column(n)
            if col.type_name != "BooleanType":
                raise bad_request(f"The $filter expression must evaluate to a boolean; '{col.prop}' is not.")
            name = col.prop
            return lambda row: row.get(name)
        raise bad_request("The $filter expression must evaluate to a boolean.")

    def bind_cmp(n: Cmp) -> Predicate:
        op = n.op
        left, right = n.left, n.right
        if isinstance(left, Lit) and isinstance(right, Prop):
            left, right = right, left
            op = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}.get(op, op)
        if not isinstance(left, Prop):
            raise bad_request("A comparison needs a property on one side.")
        col = column(left)
        name = col.prop
        if isinstance(right, Prop):
            other = column(right)
            if other.edm_type != col.edm_type:
                raise bad_request(
                    "A binary operator with incompatible types was detected. Found operand types "
                    f"'{col.edm_type}' and '{other.edm_type}' for operator kind '{OP_KINDS[op]}'."
                )
            oname = other.prop

            def columns(row: Any) -> bool | None:
                a, b = row.get(name), row.get(oname)
                if a is None or b is None:
                    return None
                return _compare(op, sort_value(col, a), sort_value(other, b))

            return columns
        if not isinstance(right, Lit):
            raise bad_request("Unsupported comparison operand.")
        if col.type_name in ("ImageType", "MultiSelectPicklistType") and right.kind != "null":
            raise unsupported(f"Comparing the {col.attribute_type} column '{name}' with '{op}'")
        if right.kind == "null":
            if op == "eq":
                return lambda row: row.get(name) is None
            if op == "ne":
                return lambda row: row.get(name) is not None
            return lambda row: None
        target = sort_value(col, coerce(col, right, op))

        def compare(row: Any) -> bool | None:
            v = row.get(name)
            if v is None:
                return None
            return _compare(op, sort_value(col, v), target)

        return compare

    def bind_call(n: Call) -> Predicate:
        name = n.name
        if name in STRING_FUNCTIONS:
            if len(n.args) != 2 or not isinstance(n.args[0], Prop) or not isinstance(n.args[1], Lit):
                raise bad_request(f"The function '{name}' takes a property and a string literal.")
            col = column(n.args[0])
            if col.type_name not in ("StringType", "MemoType", "EntityNameType"):
                raise bad_request(f"The function '{name}' is not supported on the column '{col.prop}'.")
            if n.args[1].kind != "string":
                raise _incompatible(col, n.args[1], name)
            rx = like_regex(n.args[1].value, name)
            prop = col.prop

            def like(row: Any) -> bool | None:
                v = row.get(prop)
                return None if v is None else rx.fullmatch(v) is not None

            return like
        if name.startswith(CRM_PREFIX) and name[len(CRM_PREFIX) :] in CRM_FUNCTIONS:
            fn = name[len(CRM_PREFIX) :]
            prop_name = n.named.get("PropertyName")
            if not isinstance(prop_name, Lit) or prop_name.kind != "string":
                raise bad_request(f"{name} requires PropertyName='<column>'.")
            found = table.by_prop.get(prop_name.value) or table.by_name.get(prop_name.value)
            if found is None or not found.webapi:
                raise property_not_found(prop_name.value, table.logical_name)
            col = found
            prop = col.prop
            if fn in ("Null", "NotNull"):
                return (lambda row: row.get(prop) is None) if fn == "Null" else (lambda row: row.get(prop) is not None)
            raw = n.named.get("PropertyValues")
            if not isinstance(raw, list):
                raise bad_request(f"{name} requires PropertyValues=[...].")
            if fn in ("ContainValues", "DoesNotContainValues"):
                if col.type_name != "MultiSelectPicklistType":
                    raise bad_request(f"{name} is only valid for multi-select choice columns.")
                wanted = {str(int(v)) for v in raw}
                present = fn == "ContainValues"

                def contains_values(row: Any) -> bool | None:
                    v = row.get(prop)
                    if v is None:
                        return None if present else True
                    hit = bool(wanted & set(v.split(",")))
                    return hit if present else not hit

                return contains_values
            values = [sort_value(col, coerce_text(col, str(v))) for v in raw]
            if fn in ("In", "NotIn"):
                allowed = set(values)
                negate = fn == "NotIn"

                def member(row: Any) -> bool | None:
                    v = row.get(prop)
                    if v is None:
                        return None
                    return (sort_value(col, v) in allowed) != negate

                return member
            if len(values) != 2:
                raise bad_request(f"{name} requires exactly two PropertyValues.")
            lo, hi = values
            negate = fn == "NotBetween"

            def between(row: Any) -> bool | None:
                v = row.get(prop)
                if v is None:
                    return None
                s = sort_value(col, v)
                try:
                    return bool(lo <= s <= hi) != negate
                except TypeError:
                    return None

            return between
        raise unsupported(f"The query function '{name}'")

    return bind(node)


# --- metadata filters --------------------------------------------------------------------------------------
def compile_metadata_filter(node: Any) -> Callable[[dict[str, Any]], bool | None]:
    """``$filter`` over metadata dictionaries: primitive, enum and managed-property paths (``X/Value``)."""

    def get(row: dict[str, Any], path: tuple[str, ...]) -> Any:
        value: Any = row
        for seg in path:
            if not isinstance(value, dict) or seg not in value:
                raise bad_request(f"Could not find a property named '{seg}' on the metadata type.")
            value = value[seg]
        return value

    def norm(v: Any) -> Any:
        return v.casefold() if isinstance(v, str) else v

    def bind(n: Any) -> Callable[[dict[str, Any]], bool | None]:
        if isinstance(n, Logic):
            parts = [bind(a) for a in n.args]
            if n.op == "not":
                return lambda row: (lambda v: None if v is None else not v)(parts[0](row))
            if n.op == "and":
                return lambda row: all(p(row) for p in parts)
            return lambda row: any(p(row) for p in parts)
        if isinstance(n, Call):
            short = n.name[len(CRM_PREFIX) :] if n.name.startswith(CRM_PREFIX) else n.name
            raise DataverseError(400, "0x8006088a", f'The "{short}" function isn\'t supported for Metadata Entities.')
        if isinstance(n, Cmp):
            left, right = n.left, n.right
            if isinstance(left, Lit) and isinstance(right, Prop):
                left, right = right, left
            if not isinstance(left, Prop) or not isinstance(right, Lit):
                raise bad_request("Metadata filters compare a property with a literal.")
            path = left.path
            target = right.value[1] if right.kind == "enum" else right.value
            target = norm(str(target) if right.kind == "guid" else target)
            op = n.op

            def compare(row: dict[str, Any]) -> bool | None:
                v = norm(get(row, path))
                if target is None:
                    return (v is None) == (op == "eq")
                if v is None:
                    return None
                return _compare(op, v, target)

            return compare
        if isinstance(n, Prop):
            return lambda row: bool(get(row, n.path))
        raise bad_request("Unsupported metadata filter.")

    return bind(node)


# --- $select / $orderby / $expand --------------------------------------------------------------------------
def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses and quotes."""
    out: list[str] = []
    cur: list[str] = []
    depth, quote = 0, False
    for ch in text:
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quote:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def parse_select(text: str | None) -> list[str] | None:
    if text is None or not text.strip():
        return None
    return [s.strip() for s in text.split(",") if s.strip()]


def parse_orderby(text: str | None) -> list[tuple[str, bool]]:
    """[(property, descending)]."""
    if not text:
        return []
    out = []
    for part in split_top(text):
        bits = part.split()
        if not bits or len(bits) > 2 or (len(bits) == 2 and bits[1] not in ("asc", "desc")):
            raise bad_request(f"Syntax error in $orderby: '{part}'.")
        out.append((bits[0], len(bits) == 2 and bits[1] == "desc"))
    return out


def parse_expand(text: str | None) -> list[tuple[str, dict[str, str]]]:
    """[(navigation property, {nested option: value})] from ``a($select=x;$filter=y),b``."""
    if not text:
        return []
    out = []
    for part in split_top(text):
        name, paren, rest = part.partition("(")
        options: dict[str, str] = {}
        if paren:
            if not rest.endswith(")"):
                raise bad_request(f"Syntax error in $expand: '{part}'.")
            for opt in split_top(rest[:-1], ";"):
                key, eq, value = opt.partition("=")
                if not eq:
                    raise bad_request(f"Syntax error in $expand option '{opt}'.")
                options[key.strip()] = value.strip()
        out.append((name.strip(), options))
    return out
