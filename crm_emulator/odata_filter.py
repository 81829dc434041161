"""The ``$filter`` language's syntax: a tokenizer (with parameter aliases), a small syntax tree and its parser."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_emulator.errors import bad_request, unsupported

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
            return Lit("datetime", parse_datetime(tok.text))
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


def parse_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_filter(text: str, aliases: dict[str, str] | None = None) -> Any:
    return Parser(tokenize(text, aliases), text).parse()
