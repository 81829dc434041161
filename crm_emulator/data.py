"""The org's data: generated rows merged with the write overlay, in primary-key order.

This is the one place that knows both sources. Readers get items that are either an ``int`` (an unmodified
generated row, rendered by the fast path) or a ``dict`` of values (a created or updated row); ``view`` wraps
either in something with ``.get(prop)`` for filters and ordering.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crm_emulator.catalog import Catalog
from crm_emulator.ids import sql_key
from crm_emulator.rows import Org, TableRows
from crm_emulator.schema import Column, Table
from crm_emulator.store import Overlay

Item = int | dict[str, Any]
CHUNK = 1000


class BaseView:
    """Lazy access to one generated row's values: bundle columns without computing the row fields."""

    __slots__ = ("cache", "i", "rows")

    def __init__(self, rows: TableRows, i: int) -> None:
        self.rows = rows
        self.i = i
        self.cache: dict[str, Any] = {}

    def get(self, prop: str, default: Any = None) -> Any:
        return self.rows.value(self.i, prop, self.cache)


class RenderCache:
    """LRU of rendered generated rows in chunks of 1,000, bounded in bytes.

    Generated rows never change (writes live in the overlay), so a cached chunk stays valid for the life of
    the process. Re-reading a table is then a matter of joining ready bytes.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.size = 0
        self.chunks: OrderedDict[tuple[str, int], list[bytes]] = OrderedDict()

    def get(self, rows: TableRows, chunk: int) -> list[bytes]:
        key = (rows.table.logical_name, chunk)
        found = self.chunks.get(key)
        if found is not None:
            self.chunks.move_to_end(key)
            return found
        start = chunk * CHUNK
        render = rows.render
        found = [render(i) for i in range(start, min(rows.count, start + CHUNK))]
        if self.budget > 0:
            self.chunks[key] = found
            self.size += sum(map(len, found))
            while self.size > self.budget and self.chunks:
                _, dropped = self.chunks.popitem(last=False)
                self.size -= sum(map(len, dropped))
        return found


class OrgData:
    def __init__(self, seed: int, scale: int, data_dir: Path | None, cache_mb: int = 256) -> None:
        self.catalog = Catalog()
        data_specs = [s for s in self.catalog.specs if s.table.has_rows]
        self.org = Org(seed, scale, data_specs)
        self.rows = {s.table.logical_name: TableRows(s, self.org, seed) for s in self.catalog.specs}
        fingerprint = f"seed={seed};scale={scale};v1"
        self.overlay = Overlay(data_dir / "org.sqlite" if data_dir else None, fingerprint, self.org.first_write_version)
        self.overlay.load(self.base_index)
        self.cache = RenderCache(cache_mb * 1024 * 1024)

    # --- identity ----------------------------------------------------------------------------------------
    def table(self, logical: str) -> Table:
        return self.catalog.by_logical[logical]

    def base_index(self, table: str, row_id: str) -> int | None:
        rows = self.rows.get(table)
        if rows is None:
            return None
        i = rows.ids.index(row_id)
        return i if i is not None and i < rows.count else None

    def table_of_id(self, row_id: str, candidates: tuple[str, ...]) -> str | None:
        """Which table a lookup value points to (needed for polymorphic lookups' annotations)."""
        for name in candidates:
            if self.base_index(name, row_id) is not None:
                return name
        return self.overlay.known_ids.get(row_id)

    # --- reading -----------------------------------------------------------------------------------------
    def get(self, table: str, row_id: str) -> Item | None:
        overlay = self.overlay.table(table)
        i = self.base_index(table, row_id)
        if i is None:
            return overlay.created.get(row_id)
        if i in overlay.deleted:
            return None
        return overlay.updated.get(i, i)

    def values(self, table: str, item: Item) -> dict[str, Any]:
        return self.rows[table].values(item) if isinstance(item, int) else item

    def view(self, table: str, item: Item) -> Any:
        return BaseView(self.rows[table], item) if isinstance(item, int) else item

    def item_id(self, table: str, item: Item) -> str:
        rows = self.rows[table]
        return rows.ids.id(item) if isinstance(item, int) else item[rows.table.primary_id]

    def primary_name(self, table: str, row_id: str) -> str | None:
        name_prop = self.catalog.by_logical[table].primary_name
        item = self.get(table, row_id)
        if item is None or not name_prop:
            return None
        value = self.view(table, item).get(name_prop)
        return None if value is None else str(value)

    def currency_code(self, currency_id: str | None) -> str | None:
        if not currency_id:
            return None
        item = self.get("transactioncurrency", currency_id)
        if item is None:
            return None
        code = self.view("transactioncurrency", item).get("isocurrencycode")
        return None if code is None else str(code)

    def count(self, table: str) -> int:
        rows = self.rows[table]
        overlay = self.overlay.table(table)
        return rows.count - len(overlay.deleted) + len(overlay.created)

    def scan(self, table: str, after_id: str | None = None) -> Iterator[Item]:
        """Every row of the table in primary-key (SQL Server uniqueidentifier) order, after ``after_id``."""
        rows = self.rows[table]
        overlay = self.overlay.table(table)
        n = rows.count
        keys = overlay.created_keys
        if after_id is None:
            i, ci = 0, 0
        else:
            after_key = sql_key(after_id)
            j = rows.ids.index(after_id)
            i = min(j + 1, n) if j is not None else bisect_right(range(n), after_key, key=rows.ids.key)
            ci = bisect_right(keys, after_key)
        deleted, updated, created = overlay.deleted, overlay.updated, overlay.created
        while True:
            if ci < len(keys):
                next_key = keys[ci]
                next_id = overlay.key_to_id[next_key]
                j = rows.ids.index(next_id)
                limit = n if j is not None else bisect_left(range(i, n), next_key, key=rows.ids.key) + i
            else:
                limit = n
            if not deleted and not updated:
                yield from range(i, limit)
            else:
                for x in range(i, limit):
                    if x in deleted:
                        continue
                    yield updated.get(x, x)
            i = limit
            if ci >= len(keys):
                return
            yield created[overlay.key_to_id[keys[ci]]]
            ci += 1

    def render_base(self, table: str, indices: list[int]) -> list[bytes]:
        """Rendered generated rows (full records), through the chunk cache."""
        rows = self.rows[table]
        out: list[bytes] = []
        k = 0
        while k < len(indices):
            chunk = indices[k] // CHUNK
            rendered = self.cache.get(rows, chunk)
            base = chunk * CHUNK
            while k < len(indices) and indices[k] // CHUNK == chunk:
                out.append(rendered[indices[k] - base])
                k += 1
        return out

    # --- writing -----------------------------------------------------------------------------------------
    def new_id(self, table: str) -> str:
        """A new sequential id: sorts after every existing row, like NEWSEQUENTIALID().

        Its index is derived from the version the write will get, so ids are never reused, even after deletes.
        """
        rows = self.rows[table]
        return rows.ids.id(rows.count + self.overlay.next_version() - self.overlay.first_version)

    def write(self, table: str, row_id: str, values: dict[str, Any] | None) -> int:
        """Store a row's full values (or delete it with None); returns the new version."""
        version = self.overlay.next_version()
        if values is not None:
            values["versionnumber"] = version
        self.overlay.record(
            table, row_id, "upsert" if values is not None else "delete", values, self.base_index(table, row_id), version
        )
        return version

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC).replace(microsecond=0)

    def column(self, table: str, prop: str) -> Column | None:
        return self.catalog.by_logical[table].by_prop.get(prop)
