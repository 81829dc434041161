"""The listing grammar pushed into SQL, without changing a single answer.

A ``property`` filter is exact in Python (``domain/listing.py``); here it becomes a condition that only drops
rows Python would drop too: a row goes when the filter's leaf is a scalar the database reads the way Python
does (printable ASCII text, or a number) and does not match. Anything else (arrays on the path, booleans,
nulls, objects, other text) is kept, and every kept row is then checked in Python. The creation order (the
default, and ``orderby=createdAt``) is the ``created_at`` column, so a page is read in order and reading stops
after it. SQLite reads documents with JSON1 (``json_type``, ``json_extract``), PostgreSQL with ``jsonb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Numeric, Select, Text, bindparam, case, cast, collate, false, func, literal, true
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from flowservice.domain import listing

_COMPARE = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


class Leaf:
    """One path of the JSON document, read by a dialect."""

    def __init__(self, dialect: str, doc: Any, path: Sequence[str]) -> None:
        self.dialect = dialect
        if dialect == "postgresql":
            steps = bindparam(None, list(path), type_=ARRAY(Text))
            value = cast(doc, JSONB).op("#>", return_type=JSONB)(steps)
            self.text: ColumnElement[Any] = cast(doc, JSONB).op("#>>", return_type=Text)(steps)
            self.is_text = func.jsonb_typeof(value) == "string"
            self.is_number = func.jsonb_typeof(value) == "number"
            self.ascii = self.text.op("~")("^[ -~]*$")
            self.lowered: ColumnElement[Any] = collate(func.lower(collate(self.text, "C")), "C")
            self.number: ColumnElement[Any] = cast(self.text, Numeric)
        else:
            json_path = "$" + "".join(f'."{step}"' for step in path)
            kind = func.json_type(doc, json_path)
            self.text = func.json_extract(doc, json_path)
            self.is_text = kind == "text"
            self.is_number = kind.in_(("integer", "real"))
            self.ascii = ~self.text.op("GLOB")("*[^ -~]*")
            self.lowered = func.lower(self.text)
            self.number = self.text

    def literal_number(self, value: float) -> Any:
        if self.dialect == "postgresql":
            return literal(Decimal(value), Numeric)  # the float's exact value, as Python compares it
        return literal(value)


def excluded(dialect: str, doc: Any, f: listing.Filter) -> ColumnElement[Any] | None:
    """A condition true only for rows that ``f`` surely rejects, or None when the store cannot tell."""
    if not listing.decidable(f):
        return None
    leaf = Leaf(dialect, doc, f.path)
    texts = [v.lower() for v in f.values]
    if f.op == "==":
        text_out: ColumnElement[Any] = ~leaf.lowered.in_(texts)
    elif f.op == "!=":
        text_out = leaf.lowered.in_(texts)
    else:
        text_out = ~_COMPARE[f.op](leaf.lowered, texts[0])
    branches: list[tuple[ColumnElement[Any], ColumnElement[Any]]] = [(leaf.is_text & leaf.ascii, text_out)]
    parsed = listing.numbers(f)
    if parsed is not None:
        values = [leaf.literal_number(v) for v in parsed]
        if f.op == "==":
            number_out: ColumnElement[Any] = ~leaf.number.in_(values) if values else true()
        elif f.op == "!=":
            number_out = leaf.number.in_(values) if values else false()
        else:
            number_out = ~_COMPARE[f.op](leaf.number, values[0]) if values else true()
        branches.append((leaf.is_number, number_out))
    return case(*branches, else_=false())


def narrowed(statement: Select[Any], dialect: str, doc: Any, query: listing.ListQuery) -> Select[Any]:
    """``statement`` without the rows the query's filters surely reject."""
    for f in query.filters:
        condition = excluded(dialect, doc, f)
        if condition is not None:
            statement = statement.where(~condition)
    return statement
