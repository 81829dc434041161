"""A table's rows in key order, a page at a time or counted, within a key range and filtered: what reads page."""

from __future__ import annotations

from typing import Any

from crm_emulator.data import Item, OrgData
from crm_emulator.key_ranges import KeyRange, split_key_range
from crm_emulator.odata_eval import compile_filter
from crm_emulator.schema import Table


def scan_page(
    data: OrgData, table: str, predicate: Any, after: str | None, size: int, key_range: KeyRange | None = None
) -> tuple[list[Item], bool]:
    items: list[Item] = []
    segments = data.range_segments(table, after, key_range)
    if predicate is None:
        for segment in segments:  # never empty: a full page sees one more
            room = size - len(items)
            if isinstance(segment, range):
                if len(segment) > room:
                    items.extend(segment[:room])
                    return items, True
                items.extend(segment)
            elif room == 0:
                return items, True
            else:
                items.append(segment)
        return items, False
    view = data.view
    for segment in segments:
        for item in segment if isinstance(segment, range) else (segment,):
            if predicate(view(table, item)) is True:
                if len(items) == size:
                    return items, True
                items.append(item)
    return items, False


def key_range_of(tree: Any, table: Table, predicate: Any) -> tuple[KeyRange | None, Any]:
    """The filter's primary-key range (:mod:`key_ranges`) and the predicate of what remains of it."""
    key_range, rest = split_key_range(tree, table.primary_id) if tree is not None else (None, None)
    if key_range is None:
        return None, predicate
    return key_range, compile_filter(rest, table) if rest is not None else None


def count_rows(data: OrgData, table: str, predicate: Any, key_range: KeyRange | None = None) -> int:
    """Matching rows, capped at 5,000 like Dataverse's ``$count``."""
    if predicate is None and key_range is None:
        return min(data.count(table), 5000)
    n = 0
    view = data.view
    for segment in data.range_segments(table, None, key_range):
        if predicate is None:
            n += len(segment) if isinstance(segment, range) else 1
        else:
            for item in segment if isinstance(segment, range) else (segment,):
                n += predicate(view(table, item)) is True
        if n >= 5000:
            return 5000
    return n
