"""Writes on top of the generated rows, kept in SQLite, and the change log that change tracking reads.

Every POST/PATCH/DELETE appends one row to ``changes`` with a new org-wide version (the ``versionnumber`` /
rowversion clients see) and the row's full values after the change. The in-memory view (which base rows are
updated or deleted, which rows were created) is rebuilt from that log at start-up, so a data directory can be
reused across restarts. It stays small: it only grows with writes, never with ``--scale``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from bisect import insort
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from crm_emulator.ids import sql_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
    version INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    at REAL NOT NULL,
    data TEXT
);
CREATE INDEX IF NOT EXISTS changes_by_table ON changes (tbl, version);
"""


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    raise TypeError(f"cannot store {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$dt" in obj:
            return datetime.fromisoformat(obj["$dt"])
        if "$d" in obj:
            return date.fromisoformat(obj["$d"])
        if "$dec" in obj:
            return Decimal(obj["$dec"])
    return obj


@dataclass
class TableOverlay:
    """One table's writes: updated and deleted generated rows (by index) and created rows (by id)."""

    updated: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_keys: list[bytes] = field(default_factory=list)
    key_to_id: dict[bytes, str] = field(default_factory=dict)

    def add_created(self, row_id: str, values: dict[str, Any]) -> None:
        if row_id not in self.created:
            key = sql_key(row_id)
            insort(self.created_keys, key)
            self.key_to_id[key] = row_id
        self.created[row_id] = values

    def remove_created(self, row_id: str) -> None:
        if self.created.pop(row_id, None) is not None:
            key = sql_key(row_id)
            self.created_keys.remove(key)
            del self.key_to_id[key]


class Overlay:
    """The SQLite-backed write overlay for a whole org."""

    def __init__(self, path: Path | None, fingerprint: str, first_version: int) -> None:
        self.db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL" if path else "PRAGMA journal_mode=MEMORY")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        stored = self.db.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
        if stored is not None and stored[0] != fingerprint:
            # Another seed/scale: the logged writes refer to other rows, so start from a clean org.
            self.db.execute("DELETE FROM changes")
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
        self.first_version = first_version
        self.tables: dict[str, TableOverlay] = {}
        self.known_ids: dict[str, str] = {}  # created id → table, to resolve polymorphic lookups
        self.version = first_version - 1
        self.generation = 0  # bumps on every write; caches of query results key on it

    def table(self, name: str) -> TableOverlay:
        overlay = self.tables.get(name)
        if overlay is None:
            overlay = self.tables[name] = TableOverlay()
        return overlay

    def load(self, base_index: Any) -> None:
        """Replay the log; ``base_index(table, id)`` says which ids are generated rows."""
        for version, tbl, row_id, op, data in self.db.execute(
            "SELECT version, tbl, id, op, data FROM changes ORDER BY version"
        ):
            values = json.loads(data, object_hook=_decode) if data else None
            self.apply(tbl, row_id, op, values, base_index(tbl, row_id))
            self.version = max(self.version, version)

    def apply(self, tbl: str, row_id: str, op: str, values: dict[str, Any] | None, index: int | None) -> None:
        overlay = self.table(tbl)
        if op == "delete":
            if index is not None:
                overlay.deleted.add(index)
                overlay.updated.pop(index, None)
            else:
                overlay.remove_created(row_id)
        else:
            assert values is not None
            if index is not None:
                overlay.deleted.discard(index)
                overlay.updated[index] = values
            else:
                overlay.add_created(row_id, values)
                self.known_ids[row_id] = tbl
        self.generation += 1

    def next_version(self) -> int:
        return self.version + 1

    def record(
        self, tbl: str, row_id: str, op: str, values: dict[str, Any] | None, index: int | None, version: int
    ) -> None:
        data = json.dumps(values, default=_encode) if values is not None else None
        self.db.execute(
            "INSERT INTO changes (version, tbl, id, op, at, data) VALUES (?, ?, ?, ?, ?, ?)",
            (version, tbl, row_id, op, time.time(), data),
        )
        self.version = version
        self.apply(tbl, row_id, op, values, index)

    def changes(self, tbl: str, after: int, upto: int) -> list[tuple[str, int, str]]:
        """(id, last version, last op) of each row of ``tbl`` changed in (after, upto], by version."""
        rows = self.db.execute(
            "SELECT c.id, c.version, c.op FROM changes c JOIN ("
            "  SELECT id, MAX(version) AS v FROM changes WHERE tbl = ? AND version > ? AND version <= ? GROUP BY id"
            ") last ON c.version = last.v ORDER BY c.version",
            (tbl, after, upto),
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def close(self) -> None:
        self.db.close()
