"""The lake port: Delta tables, one per dataset, committed atomically and idempotently per transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import pyarrow as pa

WriteMode = Literal["merge", "append"]


@dataclass(frozen=True)
class CommitResult:
    version: int  # the Delta table version written, or the existing one when the commit was a no-op
    rows_written: int
    rows_deleted: int
    bytes_written: int
    noop: bool = False  # True when this (app_id, txn_version) was already committed: by another writer, so
    # nothing of this call landed and the caller's position is no longer the table's


@dataclass(frozen=True)
class LastCommit:
    txn_version: int
    cursor: dict[str, Any]
    table_version: int


class Lake(Protocol):
    """Delta Lake tables, one per dataset. Every commit is atomic and idempotent per (app_id, txn_version)."""

    def commit(
        self,
        table_path: str,
        data: pa.Table,
        *,
        mode: WriteMode,
        primary_key: str,
        deleted_keys: list[str],
        app_id: str,
        txn_version: int,
        cursor: dict[str, Any],
        change_time: int | None = None,
    ) -> CommitResult:
        """Write ``data`` (and apply ``deleted_keys``) in one Delta commit carrying the application
        transaction ``(app_id, txn_version)`` and ``cursor`` in its commit metadata. If the table already holds
        a transaction for ``app_id`` with version >= ``txn_version`` the call changes nothing (noop=True).
        merge: upsert on ``primary_key`` and delete ``deleted_keys``. append: add every row with
        ``_change_type`` ('upsert'|'delete') and ``_change_time`` (epoch ms) columns; deletes become rows holding only
        the key. New columns are added to the table schema; no column is ever dropped."""

    def last_commit(self, table_path: str, app_id: str) -> LastCommit | None:
        """The latest transaction of ``app_id`` in the table and the cursor stored with it."""

    def read(self, table_path: str) -> pa.Table: ...

    def stats(self, table_path: str) -> dict[str, Any]:
        """{"version", "rows", "size_bytes", "columns"} of the current table, or {} when it does not exist."""

    def query(self, sql: str, tables: Mapping[str, str]) -> pa.Table:
        """Run DuckDB SQL where each key of ``tables`` names a view over the Delta table at that path."""

    def missing_keys(
        self, table_path: str, primary_key: str, seen: Sequence[str], chunk_rows: int, spill_dir: str
    ) -> Iterator[list[str]]:
        """The table's keys, as text, that no Arrow IPC file of ``seen`` (a string column ``k``) holds, in
        lists of at most ``chunk_rows``: what a full read did not see. Memory is bounded whatever the table's
        size (the join spills to ``spill_dir``); nothing when the table does not exist."""

    def drop(self, table_path: str) -> None: ...

    def file_size(self, table_path: str, column: str, key: str) -> int | None:
        """The size of the file ``key`` of ``column`` stored beside the table (``put_file``), None if absent."""

    def put_file(self, table_path: str, column: str, key: str, chunks: Iterable[bytes], size: int | None) -> int:
        """Store a file's contents beside the table at ``<table>/_files/<column>/<key>``, replacing any object
        there, and return its size. The object appears whole or not at all; with ``size`` given, contents of
        another length are refused (``InvalidRequest``) and nothing is stored."""
