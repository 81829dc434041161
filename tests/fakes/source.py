"""A working in-memory source for logic tests of the engine: tables with a primary key and ``modifiedon``,
change tracking (snapshot pages, then delta pages with deletes), watermark reads, and injectable failures."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from flowservice.domain.errors import NotFound, SourceUnavailable
from flowservice.ports import Column, CursorInfo, Page, TableInfo, TableSchema

UTC = dt.UTC


def ts(seconds: int) -> dt.datetime:
    return dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=seconds)


@dataclass
class FakeTable:
    name: str
    primary_key: str
    change_tracking: bool
    columns: dict[str, pa.DataType]
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[int, str, str]] = field(default_factory=list)  # (version, op, key)
    version: int = 0

    def upsert(self, row: dict[str, Any]) -> None:
        self.version += 1
        self.rows[row[self.primary_key]] = row
        self.log.append((self.version, "upsert", row[self.primary_key]))

    def delete(self, key: str) -> None:
        self.version += 1
        del self.rows[key]
        self.log.append((self.version, "delete", key))

    def schema(self) -> TableSchema:
        cols = tuple(
            Column(name, t, original_type=str(t), xdm={"type": "string"}, is_primary_key=name == self.primary_key)
            for name, t in self.columns.items()
        )
        info = TableInfo(self.name, self.name.title(), self.name + "s", self.primary_key, self.change_tracking)
        return TableSchema(info, cols)


@dataclass
class Faults:
    fail_after_pages: int | None = None  # raise SourceUnavailable after yielding this many pages
    expire_delta_token: bool = False
    pages_served: int = 0


class FakeOrg:
    """The state shared by every client of the fake: tables and fault switches."""

    def __init__(self) -> None:
        self.tables: dict[str, FakeTable] = {}
        self.faults = Faults()
        self.lock = threading.Lock()
        self.account: dict[str, str] = {}  # what ``account_identity`` reports (an org id, say)

    def add_table(self, name: str, *, change_tracking: bool = True, rows: int = 0) -> FakeTable:
        pk = f"{name}id"
        table = FakeTable(
            name,
            pk,
            change_tracking,
            {
                pk: pa.string(),
                "name": pa.string(),
                "revenue": pa.decimal128(19, 4),
                "modifiedon": pa.timestamp("us", "UTC"),
            },
        )
        for i in range(rows):
            table.upsert(make_row(table, i, modified=i // 3))  # three rows share each modifiedon
        self.tables[name] = table
        return table

    def __call__(self, spec_id: str, auth_spec_name: str, params: Mapping[str, Any]) -> FakeSource:
        return FakeSource(self)


def make_row(table: FakeTable, i: int, *, modified: int, name: str | None = None) -> dict[str, Any]:
    import decimal

    return {
        table.primary_key: f"{i:08d}-0000-0000-0000-000000000000",
        "name": name or f"{table.name} {i}",
        "revenue": decimal.Decimal(i) / 4,
        "modifiedon": ts(modified),
    }


class FakeSource:
    def __init__(self, org: FakeOrg, page_size: int = 10) -> None:
        self.org = org
        self.page_size = page_size

    def check(self) -> None:
        return None

    def list_tables(self) -> Iterator[TableInfo]:
        for table in self.org.tables.values():
            yield table.schema().table

    def describe(self, table: str) -> TableSchema:
        if table not in self.org.tables:
            raise NotFound(f"table {table} does not exist")
        return self.org.tables[table].schema()

    def preview(self, table: str, columns: list[str] | None, count: int) -> pa.Table:
        t = self.org.tables[table]
        return pa.Table.from_pylist(list(t.rows.values())[:count], schema=t.schema().arrow_schema())

    def read(
        self,
        table: str,
        columns: list[str] | None,
        cursor: dict[str, Any] | None,
        *,
        delta_column: str | None = None,
        page_size: int = 5000,
    ) -> Iterator[Page]:
        self.describe(table)  # NotFound for an unknown table
        t = self.org.tables[table]
        with self.org.lock:
            snapshot = sorted(t.rows.values(), key=lambda r: str(r[t.primary_key]))
            version = t.version
            log = list(t.log)
        cursor = cursor or {}
        full_resync = False
        if t.change_tracking:
            if cursor.get("delta") is not None:
                if self.org.faults.expire_delta_token:
                    self.org.faults.expire_delta_token = False
                    full_resync = True
                    cursor = {}
                else:
                    since = int(cursor["delta"])
                    changed: dict[str, str] = {}
                    for v, op, key in log:
                        if v > since:
                            changed[key] = op
                    upserts = [t.rows[k] for k, op in changed.items() if op == "upsert" and k in t.rows]
                    deletes = [k for k, op in changed.items() if op == "delete"]
                    yield from self._pages(t, upserts, {"delta": version}, deletes, start=0, resync=False)
                    return
            start = int(cursor.get("offset", 0))
            full_resync = full_resync or bool(cursor.get("resync"))
            yield from self._pages(t, snapshot, {"delta": version}, [], start=start, resync=full_resync)
            return
        column = delta_column or "modifiedon"
        mark = cursor.get("value")
        rows = sorted(snapshot, key=lambda r: (r[column], str(r[t.primary_key])))
        if mark is not None:
            bound = dt.datetime.fromisoformat(mark)
            rows = [r for r in rows if r[column] >= bound]  # inclusive lower bound, as documented
        start = int(cursor.get("offset", 0))
        for index in range(start, max(len(rows), 1), self.page_size):
            chunk = rows[index : index + self.page_size]
            seen = max([r[column] for r in chunk], default=None)
            value = seen.isoformat() if seen else mark
            final = index + self.page_size >= len(rows)
            page_cursor = {"mode": "watermark", "column": column, "value": value if final else mark}
            if not final:
                page_cursor["offset"] = index + self.page_size
            self._maybe_fail()
            yield Page(
                pa.RecordBatch.from_pylist(chunk, schema=t.schema().arrow_schema()),
                [],
                page_cursor,
                final,
                bytes_read=100 * len(chunk),
            )

    def account_identity(self) -> dict[str, str]:
        return dict(self.org.account)

    def cursor_info(self, cursor: dict[str, Any]) -> CursorInfo:
        """An ``offset`` stops between two pages of a read; a watermark's ``value`` is re-read inclusively."""
        value = cursor.get("value") if cursor.get("mode") == "watermark" else None
        return CursorInfo(mid_read="offset" in cursor, overlap_until=None if value is None else str(value))

    def _pages(
        self,
        t: FakeTable,
        rows: list[dict[str, Any]],
        final_cursor: dict[str, Any],
        deletes: list[str],
        *,
        start: int,
        resync: bool,
    ) -> Iterator[Page]:
        schema = t.schema().arrow_schema()
        for index in range(start, max(len(rows), 1), self.page_size):
            chunk = rows[index : index + self.page_size]
            final = index + self.page_size >= len(rows)
            cursor = dict(final_cursor) if final else {"offset": index + self.page_size, "resync": resync}
            self._maybe_fail()
            yield Page(
                pa.RecordBatch.from_pylist(chunk, schema=schema),
                deletes if final else [],
                cursor,
                final,
                full_resync=resync,
                bytes_read=100 * len(chunk),
            )

    def _maybe_fail(self) -> None:
        faults = self.org.faults
        if faults.fail_after_pages is not None and faults.pages_served >= faults.fail_after_pages:
            faults.fail_after_pages = None
            faults.pages_served = 0
            raise SourceUnavailable("connection reset by the fake source")
        faults.pages_served += 1

    def close(self) -> None:
        return None
