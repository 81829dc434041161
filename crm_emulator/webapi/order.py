"""``$orderby`` pages: the matching rows sorted once per query (and cached), and the sort keys a cookie holds."""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crm_emulator.data import Item, OrgData
from crm_emulator.errors import bad_request
from crm_emulator.ids import sql_key
from crm_emulator.odata_values import coerce_text, sort_value
from crm_emulator.paging import Cookie
from crm_emulator.schema import Column, Table
from crm_emulator.webapi.query import Query

ORDERED_CACHE_LIMIT = 300_000


class Desc:
    """Reverses the order of a sort key component (for ``desc`` columns)."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: Desc) -> bool:
        return bool(other.v < self.v)

    def __gt__(self, other: Desc) -> bool:
        return bool(other.v > self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Desc) and self.v == other.v

    def __hash__(self) -> int:
        return hash(self.v)


class Ordering:
    """Pages of a table in ``$orderby`` order; the sorted rows of the last few queries are kept."""

    def __init__(self, data: OrgData) -> None:
        self.data = data
        self._ordered: dict[tuple[Any, ...], tuple[list[tuple[Any, ...]], list[Item]]] = {}

    def _order_value(self, col: Column, view: Any) -> Any:
        value = view.get(col.prop)
        if value is not None and col.is_lookup:
            target = self.data.table_of_id(value, col.targets) or col.targets[0]
            return self.data.primary_name(target, value) or ""
        return value

    def _sort_key(self, cols: list[tuple[Column, bool]], raw: list[Any], pk: str) -> tuple[Any, ...]:
        parts: list[Any] = []
        for (col, desc), value in zip(cols, raw, strict=True):
            comp = (0, 0) if value is None else (1, value.casefold() if col.is_lookup else sort_value(col, value))
            parts.append(Desc(comp) if desc else comp)
        parts.append(sql_key(pk))
        return tuple(parts)

    def page(
        self, q: Query, table: Table, predicate: Any, cookie: Cookie | None, size: int
    ) -> tuple[list[Item], bool, list[tuple[str, str | None]], list[tuple[str, str | None]]]:
        name = table.logical_name
        cols = [(table.by_prop[p], desc) for p, desc in q.orderby]
        cache_key = (name, q.filter_text, tuple(q.orderby), self.data.overlay.generation, tuple(q.aliases.items()))
        cached = self._ordered.get(cache_key)
        if cached is None:
            entries: list[tuple[tuple[Any, ...], Item]] = []
            for item in self.data.scan(name):
                view = self.data.view(name, item)
                if predicate is not None and predicate(view) is not True:
                    continue
                raw = [self._order_value(c, view) for c, _ in cols]
                entries.append((self._sort_key(cols, raw, self.data.item_id(name, item)), item))
            entries.sort(key=lambda e: e[0])
            cached = ([e[0] for e in entries], [e[1] for e in entries])
            if len(entries) <= ORDERED_CACHE_LIMIT:
                if len(self._ordered) > 8:
                    self._ordered.clear()
                self._ordered[cache_key] = cached
        keys, items = cached
        start = 0
        if cookie is not None:
            last = dict(cookie.last)
            try:
                texts = [last[c.name if not c.is_lookup else c.prop] for c, _ in cols]
                raw_last = [
                    None if t is None else self._decode_order(c, t) for (c, _), t in zip(cols, texts, strict=True)
                ]
                pk_last = last[table.primary_id]
            except KeyError as exc:
                raise bad_request("The $skiptoken paging cookie does not match this query.") from exc
            if pk_last is None:
                raise bad_request("The $skiptoken paging cookie does not match this query.")
            start = bisect_right(keys, self._sort_key(cols, raw_last, pk_last))
        page = items[start : start + size]
        more = start + size < len(items)

        def key_values(item: Item) -> list[tuple[str, str | None]]:
            view = self.data.view(name, item)
            out = []
            for c, _ in cols:
                value = self._order_value(c, view)
                out.append((c.name if not c.is_lookup else c.prop, self._encode_order(value)))
            out.append((table.primary_id, self.data.item_id(name, item)))
            return out

        last_keys = key_values(page[-1]) if page else []
        first_keys = key_values(page[0]) if page else []
        return page, more, last_keys, first_keys

    @staticmethod
    def _encode_order(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal | float | int):
            return repr(value) if isinstance(value, float) else str(value)
        return str(value)

    @staticmethod
    def _decode_order(col: Column, text: str) -> Any:
        if col.is_lookup or col.type_name in (
            "StringType",
            "MemoType",
            "EntityNameType",
            "MultiSelectPicklistType",
            "ImageType",
        ):
            return text
        return coerce_text(col, text)
