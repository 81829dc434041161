"""A second source, registered like any other (``SOURCE``) but living under ``tests/``: one in-memory table
``contact`` without change tracking, read by watermark on its delta column, behind an API key.

Its settings have their own prefix (``FLOWSERVICE_SECOND_SOURCE_*``): how many rows the table starts with, and
the key it accepts. Its spec id is one of the CRM sources the CRMToAEP flow spec already accepts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic_settings import BaseSettings, SettingsConfigDict

from flowservice.domain.errors import InvalidRequest, NotFound, SourceAuthError
from flowservice.ports import Column, CursorInfo, Page, TableInfo, TableSchema
from flowservice.sources import SourcePackage

SPEC_ID = "cfc0fee1-7dc0-40ef-b73e-d8b134c436f5"
AUTH_SPEC = "API Key Authentication for the Second Source"
TABLE = TableInfo("contact", "Contact", "contacts", "contactid", change_tracking=False)
SCHEMA = TableSchema(
    TABLE,
    (
        Column("contactid", pa.string(), "Id", {"type": "string"}, nullable=False, is_primary_key=True),
        Column("name", pa.string(), "Text", {"type": "string"}),
        Column("modifiedon", pa.timestamp("us", "UTC"), "Instant", {"type": "string", "format": "date-time"}),
    ),
)
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class SecondSourceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWSERVICE_SECOND_SOURCE_", extra="ignore")

    rows: int = 25
    api_key: str = "open-sesame"


class Store:
    """The account's one table; every change gets a later ``modifiedon`` than any before it."""

    def __init__(self, rows: int) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.clock = 0
        for i in range(rows):
            self.upsert(f"c-{i:04d}", f"Contact {i}")

    def upsert(self, key: str, name: str) -> None:
        self.clock += 1
        self.rows[key] = {"contactid": key, "name": name, "modifiedon": EPOCH + dt.timedelta(minutes=self.clock)}

    def delete(self, key: str) -> None:
        del self.rows[key]


class SecondSourceFactory:
    def __init__(self, settings: SecondSourceSettings) -> None:
        self.settings = settings
        self.store = Store(settings.rows)

    def __call__(self, spec_id: str, auth_spec_name: str, params: Mapping[str, Any]) -> SecondSourceClient:
        if spec_id != SPEC_ID or auth_spec_name.lower() != AUTH_SPEC.lower():
            raise InvalidRequest(f"The second source does not serve {spec_id} / {auth_spec_name}")
        return SecondSourceClient(self.store, authorised=params.get("apiKey") == self.settings.api_key)


class SecondSourceClient:
    def __init__(self, store: Store, *, authorised: bool) -> None:
        self.store = store
        self.authorised = authorised

    def check(self) -> None:
        if not self.authorised:
            raise SourceAuthError("The second source refused the API key")

    def list_tables(self) -> Iterator[TableInfo]:
        self.check()
        yield TABLE

    def describe(self, table: str) -> TableSchema:
        self.check()
        if table != TABLE.name:
            raise NotFound(f"The second source has no table {table!r}")
        return SCHEMA

    def preview(self, table: str, columns: list[str] | None, count: int) -> pa.Table:
        schema = self._schema(table, columns)
        return pa.Table.from_pylist(list(self.store.rows.values())[:count], schema=schema)

    def account_identity(self) -> dict[str, str]:
        return {}  # this source cannot tell one account from another beyond its configuration

    def cursor_info(self, cursor: dict[str, Any]) -> CursorInfo:
        """An ``offset`` stops between two pages of a read; the watermark's ``value`` is re-read inclusively."""
        value = cursor.get("value")
        return CursorInfo(mid_read="offset" in cursor, overlap_until=None if value is None else str(value))

    def read(
        self,
        table: str,
        columns: list[str] | None,
        cursor: dict[str, Any] | None,
        *,
        delta_column: str | None = None,
        page_size: int = 5000,
    ) -> Iterator[Page]:
        """From the watermark (inclusive) in delta column order; a mid-read cursor keeps the read's bound and
        counts the rows already landed."""
        schema = self._schema(table, columns)
        column = delta_column or "modifiedon"
        bound = (cursor or {}).get("value")
        rows = sorted(self.store.rows.values(), key=lambda r: (r[column], r["contactid"]))
        if bound is not None:
            rows = [r for r in rows if r[column] >= dt.datetime.fromisoformat(bound)]
        start = int((cursor or {}).get("offset", 0))
        for offset in range(start, max(len(rows), 1), page_size):
            chunk = rows[offset : offset + page_size]
            final = offset + page_size >= len(rows)
            page_cursor: dict[str, Any] = {"mode": "watermark", "column": column, "value": bound}
            if final:
                page_cursor["value"] = rows[-1][column].isoformat() if rows else bound
            else:
                page_cursor["offset"] = offset + page_size
            yield Page(pa.RecordBatch.from_pylist(chunk, schema=schema), [], page_cursor, final, bytes_read=100)

    def close(self) -> None:
        return None

    def _schema(self, table: str, columns: list[str] | None) -> pa.Schema:
        full = self.describe(table).arrow_schema()
        if columns is None:
            return full
        unknown = [c for c in columns if c not in full.names]
        if unknown:
            raise InvalidRequest(f"Unknown columns: {', '.join(unknown)}")
        return pa.schema([full.field(n) for n in full.names if n == TABLE.primary_key or n in columns])


SOURCE = SourcePackage(
    spec_id=SPEC_ID,
    connection_spec=Path(__file__).with_name("second-source.json"),
    settings=SecondSourceSettings,
    factory=SecondSourceFactory,
)
