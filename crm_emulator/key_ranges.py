"""Primary-key ranges in a ``$filter``, so that a range query scans its range instead of the whole table.

Clients split a big table into key ranges (``accountid gt <g1> and accountid le <g2>``, reference §4.5) that
each follow their own nextLink chain. The comparisons on the primary key of a top-level conjunction become a
:class:`KeyRange` in SQL Server's ``uniqueidentifier`` order (:func:`~crm_emulator.ids.sql_key`); the scan
starts at its lower bound and stops past its upper one, and what remains of the filter, if anything, is a
predicate as before. The answer is the same as filtering every row; only the work differs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from crm_emulator.ids import sql_key
from crm_emulator.odata_filter import Cmp, Lit, Logic, Prop

FLIPPED = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge", "eq": "eq"}


@dataclass(frozen=True)
class KeyRange:
    """Keys in (or at, when inclusive) ``lower`` … ``upper``, compared as SQL Server does; None = unbounded."""

    lower: bytes | None = None
    lower_inclusive: bool = False
    upper: bytes | None = None
    upper_inclusive: bool = False

    def narrowed(self, op: str, key: bytes) -> KeyRange:
        out = self
        if op in ("gt", "ge", "eq"):
            inclusive = op != "gt"
            if out.lower is None or key > out.lower or (key == out.lower and not inclusive):
                out = replace(out, lower=key, lower_inclusive=inclusive)
        if op in ("lt", "le", "eq"):
            inclusive = op != "lt"
            if out.upper is None or key < out.upper or (key == out.upper and not inclusive):
                out = replace(out, upper=key, upper_inclusive=inclusive)
        return out

    def below_upper(self, key: bytes) -> bool:
        """``key`` is not past the upper bound."""
        return self.upper is None or key < self.upper or (self.upper_inclusive and key == self.upper)


def _conjuncts(node: Any) -> list[Any]:
    if isinstance(node, Logic) and node.op == "and":
        return [part for arg in node.args for part in _conjuncts(arg)]
    return [node]


def _key_comparison(node: Any, pk: str) -> tuple[str, bytes] | None:
    if not isinstance(node, Cmp) or node.op not in FLIPPED:
        return None
    left, right, op = node.left, node.right, node.op
    if isinstance(left, Lit) and isinstance(right, Prop):
        left, right, op = right, left, FLIPPED[op]
    if isinstance(left, Prop) and left.path == (pk,) and isinstance(right, Lit) and right.kind == "guid":
        return op, sql_key(str(right.value))
    return None


def split_key_range(node: Any, pk: str) -> tuple[KeyRange | None, Any]:
    """(the primary-key range of a filter's top-level conjunction, the rest of the filter or None)."""
    key_range: KeyRange | None = None
    rest: list[Any] = []
    for part in _conjuncts(node):
        found = _key_comparison(part, pk)
        if found is None:
            rest.append(part)
        else:
            key_range = (key_range or KeyRange()).narrowed(*found)
    if key_range is None:
        return None, node
    remainder: Any = None
    for part in rest:
        remainder = part if remainder is None else Logic("and", [remainder, part])
    return key_range, remainder
