"""The org's data: generated rows merged with the write overlay, in primary-key order.

This is the one place that knows both sources. Readers get items that are either an ``int`` (an unmodified
generated row, rendered by the fast path) or a ``dict`` of values (a created or updated row); ``view`` wraps
either in something with ``.get(prop)`` for filters and ordering.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from operator import lt
from pathlib import Path
from typing import Any

from crm_emulator.catalog import Catalog
from crm_emulator.ids import sql_key
from crm_emulator.key_ranges import KeyRange
from crm_emulator.rendered import CHUNK, Rendered, RenderStore, fingerprint
from crm_emulator.rows import Org, TableRows
from crm_emulator.schema import Column, Table
from crm_emulator.shapes import DEFAULT, Shape
from crm_emulator.store import Overlay

Item = int | dict[str, Any]


class BaseView:
    """Lazy access to one generated row's values: bundle columns without computing the row fields."""

    __slots__ = ("cache", "i", "rows")

    def __init__(self, rows: TableRows, i: int) -> None:
        self.rows = rows
        self.i = i
        self.cache: dict[str, Any] = {}

    def get(self, prop: str, default: Any = None) -> Any:
        return self.rows.value(self.i, prop, self.cache)


class OrgData:
    def __init__(
        self,
        seed: int,
        scale: int,
        data_dir: Path | None,
        cache_mb: int = 256,
        random_guids: bool = False,
        extra_tables: frozenset[str] = frozenset(),
    ) -> None:
        self.catalog = Catalog(extra_tables)
        data_specs = [s for s in self.catalog.specs if s.table.has_rows]
        self.org = Org(seed, scale, data_specs, random_guids)
        self.rows = {s.table.logical_name: TableRows(s, self.org, seed) for s in self.catalog.specs}
        org_key = f"seed={seed};scale={scale};v1" + (";random-guids" if random_guids else "")
        org_key += "".join(f";{group}" for group in sorted(extra_tables))  # other tables, other versions
        self.overlay = Overlay(data_dir / "org.sqlite" if data_dir else None, org_key, self.org.first_write_version)
        self.overlay.load(self.base_index)
        store = RenderStore(data_dir / "rendered", fingerprint(seed, scale, self.rows.values())) if data_dir else None
        self.rendered = Rendered(cache_mb * 1024 * 1024, store)
        self.cache = self.rendered.cache
        self._touched: dict[tuple[str, int], list[int]] = {}

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

    def untouched(self, table: str) -> bool:
        """No created or updated rows in ``table``: scans yield only generated rows' indices."""
        overlay = self.overlay.table(table)
        return not overlay.updated and not overlay.created

    def rendered_size(self, sample: int = 64) -> int:
        """Roughly how many bytes the generated rows not yet in the render store take rendered."""
        total = 0
        store = self.rendered.store
        for name, rows in self.rows.items():
            left = rows.count - (sum(1 for t, _ in store.present if t == name) * CHUNK if store else 0)
            if left > 0:
                n = min(sample, rows.count)
                total += len(rows.render_run(0, n)) * left // n
        return total

    def count(self, table: str) -> int:
        rows = self.rows[table]
        overlay = self.overlay.table(table)
        return rows.count - len(overlay.deleted) + len(overlay.created)

    def scan(self, table: str, after_id: str | None = None) -> Iterator[Item]:
        """Every row of the table in primary-key (SQL Server uniqueidentifier) order, after ``after_id``."""
        for segment in self.segments(table, after_id):
            if isinstance(segment, range):
                yield from segment
            else:
                yield segment

    def range_segments(
        self, table: str, after_id: str | None, key_range: KeyRange | None
    ) -> Iterator[range | dict[str, Any]]:
        """``segments`` after ``after_id`` (a paging cookie's key) within a primary-key range."""
        if key_range is None:
            yield from self.segments(table, after_id)
            return
        start, inclusive = (sql_key(after_id), False) if after_id is not None else (None, False)
        if key_range.lower is not None and (start is None or key_range.lower > start):
            start, inclusive = key_range.lower, key_range.lower_inclusive
        segments = self.segments(table, start=start, inclusive=inclusive)
        if key_range.upper is None:
            yield from segments
            return
        key, pk = self.rows[table].ids.key, self.rows[table].table.primary_id
        below = key_range.below_upper
        for segment in segments:
            if isinstance(segment, range):
                if not segment or below(key(segment[-1])):
                    yield segment
                    continue
                cut = bisect_left(segment, True, key=lambda i: not below(key(i)))
                if cut:
                    yield segment[:cut]
                return
            if not below(sql_key(segment[pk])):
                return
            yield segment

    def segments(
        self, table: str, after_id: str | None = None, *, start: bytes | None = None, inclusive: bool = False
    ) -> Iterator[range | dict[str, Any]]:
        """``scan`` in bulk: runs of untouched generated rows as ranges, written rows one by one.

        ``start`` (a :func:`sql_key`) begins the scan at that key (``inclusive``) or just after it instead.
        """
        rows = self.rows[table]
        overlay = self.overlay.table(table)
        n = rows.count
        keys = overlay.created_keys
        if start is not None:
            find = bisect_left if inclusive else bisect_right
            i, ci = find(range(n), start, key=rows.ids.key), find(keys, start)
        elif after_id is None:
            i, ci = 0, 0
        else:
            after_key = sql_key(after_id)
            j = rows.ids.index(after_id)
            i = min(j + 1, n) if j is not None else bisect_right(range(n), after_key, key=rows.ids.key)
            ci = bisect_right(keys, after_key)
        while True:
            if ci < len(keys):
                next_key = keys[ci]
                next_id = overlay.key_to_id[next_key]
                j = rows.ids.index(next_id)
                limit = n if j is not None else bisect_left(range(i, n), next_key, key=rows.ids.key) + i
            else:
                limit = n
            yield from self._base_segments(table, i, limit)
            i = limit
            if ci >= len(keys):
                return
            yield overlay.created[overlay.key_to_id[keys[ci]]]
            ci += 1

    def _base_segments(self, table: str, i: int, limit: int) -> Iterator[range | dict[str, Any]]:
        """Generated rows ``i..limit-1`` minus deleted ones, updated ones replaced by their values."""
        overlay = self.overlay.table(table)
        if not overlay.deleted and not overlay.updated:
            if i < limit:
                yield range(i, limit)
            return
        key = (table, self.overlay.generation)
        touched = self._touched.get(key)
        if touched is None:
            touched = sorted(overlay.deleted | overlay.updated.keys())
            self._touched = {key: touched}
        k = bisect_left(touched, i)
        while i < limit:
            stop = touched[k] if k < len(touched) and touched[k] < limit else limit
            if i < stop:
                yield range(i, stop)
            if stop == limit:
                return
            if stop not in overlay.deleted:
                yield overlay.updated[stop]
            i, k = stop + 1, k + 1

    def render_base(self, table: str, indices: Sequence[int], shape: Shape = DEFAULT) -> list[bytes | memoryview]:
        """Generated rows (records in ``shape``) in the order given, as comma-separated runs.

        Consecutive rows come back as one piece per cache chunk, so a page of untouched rows is a handful of
        slices rather than 5,000 objects.
        """
        rows = self.rows[table]
        out: list[bytes | memoryview] = []
        k, n = 0, len(indices)
        # Scans give increasing indices, $orderby pages need not (then every run is looked for one by one).
        increasing = all(map(lt, indices, islice(indices, 1, None)))
        while k < n:
            first = indices[k]
            chunk, offset = divmod(first, CHUNK)
            # If indices only increase, a slice whose ends are as far apart as its length is one run.
            j = min(n, k + CHUNK - offset)
            if not increasing or indices[j - 1] - first != j - 1 - k:  # a gap: find where this run ends
                j = k + 1
                while j < n and indices[j] == indices[j - 1] + 1 and indices[j] // CHUNK == chunk:
                    j += 1
            out.append(self.rendered.run(rows, chunk, offset, indices[j - 1] + 1 - chunk * CHUNK, shape))
            k = j
        return out

    def prerender(self, table: str, chunk: int, shape: Shape = DEFAULT) -> None:
        """Render a chunk into the cache ahead of a request for it (see :mod:`crm_emulator.readahead`)."""
        rows = self.rows[table]
        if chunk * CHUNK < rows.count and not self.rendered.ready(rows, chunk, shape):
            self.rendered.render(rows, chunk, shape)

    def prerender_tables(self, names: list[str]) -> None:
        """``--prerender``: whole tables into the data directory's render store, before serving."""
        self.rendered.prerender([self.rows[name] for name in names])

    # --- writing -----------------------------------------------------------------------------------------
    def new_id(self, table: str) -> str:
        """A new id: sequential (sorts after every existing row, like NEWSEQUENTIALID()) or, with random GUIDs,
        random like NEWID().

        A sequential id's index is derived from the version the write will get, so ids are never reused, even
        after deletes.
        """
        rows = self.rows[table]
        return rows.ids.new_id(rows.count + self.overlay.next_version() - self.overlay.first_version)

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
