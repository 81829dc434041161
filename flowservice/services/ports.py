"""Ports: the small interfaces the services need from the outside world.

Adapters (``sources/``, ``lake/``, ``store/``) implement them; ``bootstrap`` wires them; tests pass working
fakes. Data crosses the house as Arrow: a source yields ``Page``s of record batches typed from metadata, and
the lake commits Arrow tables.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pyarrow as pa

from flowservice.domain import listing

# --------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class TableInfo:
    """One table of a source, as explore's root listing shows it."""

    name: str  # logical name, the path used everywhere else (e.g. "account")
    display_name: str
    entity_set: str  # the collection the wire protocol reads (e.g. "accounts")
    primary_key: str | None
    change_tracking: bool
    can_preview: bool = True
    kind: Literal["table", "view"] = "table"


@dataclass(frozen=True)
class Column:
    """One column, typed deliberately from source metadata (never from sampled rows)."""

    name: str
    arrow_type: pa.DataType
    original_type: str  # the source's own type name, e.g. Dataverse "MoneyType"
    xdm: Mapping[str, Any]  # {"type": "string", "format": "date-time", "minimum": ..., ...}
    nullable: bool = True
    is_primary_key: bool = False
    description: str | None = None


@dataclass(frozen=True)
class TableSchema:
    table: TableInfo
    columns: tuple[Column, ...]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in self.columns])


@dataclass(frozen=True)
class Page:
    """One page of a read.

    ``batch`` holds upserted/new rows typed by the table schema (restricted to the requested columns, the
    primary key always included). ``deleted_keys`` are primary keys the source reports deleted.
    ``cursor`` is the JSON-serialisable position *after* this page: storing it with the data of this page and
    passing it back to ``read`` resumes exactly after it. ``final`` is True on the last page of the read;
    its cursor is the one the next incremental run starts from (e.g. a delta link or a watermark).
    """

    batch: pa.RecordBatch
    deleted_keys: list[str] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)
    final: bool = False
    full_resync: bool = False  # True when the source had to restart from scratch (expired delta token)
    bytes_read: int = 0


class SourceClient(Protocol):
    """A connection to one source account. Raises ``domain.errors.SourceError`` subclasses."""

    def check(self) -> None:
        """Authenticate and make one cheap call; raise ``SourceAuthError`` etc. with a clear reason."""

    def list_tables(self) -> Iterator[TableInfo]: ...

    def describe(self, table: str) -> TableSchema:
        """Raise ``NotFound`` for an unknown table."""

    def preview(self, table: str, columns: list[str] | None, count: int) -> pa.Table: ...

    def read(
        self,
        table: str,
        columns: list[str] | None,
        cursor: dict[str, Any] | None,
        *,
        delta_column: str | None = None,
        page_size: int = 5000,
    ) -> Iterator[Page]:
        """Read the table from ``cursor`` (None = full initial read), page by page.

        Incremental by change tracking when the table has it, else by the ``delta_column`` window with an
        inclusive lower bound (the caller dedups on the primary key).
        """

    def close(self) -> None: ...


class SourceFactory(Protocol):
    def __call__(self, spec_id: str, auth_spec_name: str, params: Mapping[str, Any]) -> SourceClient: ...


# ------------------------------------------------------------------------------------------------ lake

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


# ----------------------------------------------------------------------------------------------- store


@dataclass(frozen=True)
class Stored:
    """A stored resource: the document clients see (with ``id``, ``etag``, ``createdAt``...; secret
    parameters appear there only as a mask) and, when asked for, its secrets decrypted."""

    kind: str
    id: str
    doc: dict[str, Any]
    secrets: dict[str, str]
    etag: str


#: Set by a caller on an event loop (the lane): a write of ``Resources.add`` that would have to wait for the
#: database's write lock raises :class:`WriteWouldWait` instead, having written nothing, so that the caller can
#: do it again in a thread. Where waiting cannot be ruled out (PostgreSQL: a network round trip), it always does.
writes_must_not_wait: contextvars.ContextVar[bool] = contextvars.ContextVar("writes_must_not_wait", default=False)


class WriteWouldWait(Exception):
    """The write was refused, untouched, because it would have waited (see ``writes_must_not_wait``)."""


class Resources(Protocol):
    """Tenant-scoped documents. A resource of another tenant is ``None``, never visible."""

    def add(self, kind: str, tenant: Any, id: str, doc: dict[str, Any], secrets: dict[str, str]) -> Stored: ...

    def get(self, kind: str, tenant: Any, id: str, *, with_secrets: bool = False) -> Stored | None:
        """Secrets are decrypted only when asked for (to call the source), never for API reads."""

    def list(self, kind: str, tenant: Any) -> list[Stored]: ...

    def page(
        self, kind: str, tenant: Any, query: listing.ListQuery, default_order: Callable[[dict[str, Any]], Any]
    ) -> listing.Page:
        """What ``listing.apply(query, documents of kind, default_order)`` answers (``default_order`` must be
        newest first by ``createdAt``, ties by id), without reading every document when filters allow."""

    def latest_runs(self, tenant: Any, flow_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The newest run document (by ``createdAt``) of each of ``flow_ids`` that has runs."""

    def update(
        self,
        kind: str,
        tenant: Any,
        id: str,
        doc: dict[str, Any],
        secrets: dict[str, str] | None,
        *,
        if_etag: str | None,
    ) -> Stored:
        """Replace the document; ``if_etag`` (when given) must equal the current etag, else
        ``PreconditionFailed``; ``secrets=None`` keeps the stored ones."""

    def delete(self, kind: str, tenant: Any, id: str) -> bool: ...


class Identities(Protocol):
    def add_client(self, org: str, name: str) -> tuple[str, str]:
        """Register a client; return ``(client_id, client_secret)``. Only a hash of the secret is kept."""

    def verify_client(self, client_id: str, client_secret: str) -> str | None:
        """The client's org when the secret matches, else None."""

    def client_org(self, client_id: str) -> str | None: ...

    def add_sandbox(self, org: str, name: str) -> None: ...

    def sandbox_exists(self, org: str, name: str) -> bool: ...

    def list_sandboxes(self, org: str) -> list[str]: ...


@dataclass(frozen=True)
class Claim:
    """A worker's hold on a run. ``attempt`` grows by one with every claim of the run: it is the fencing
    token, so a worker presumed dead (``worker``, ``attempt``) can no longer change what a newer claim owns."""

    run_id: str
    flow_id: str
    org: str
    sandbox: str
    attempt: int
    worker: str = ""


class RunQueue(Protocol):
    """Durable hand-off of runs to workers (embedded threads or ``flowservice worker`` processes)."""

    def create_run(
        self,
        kind: str,
        tenant: Any,
        run_id: str,
        flow_id: str,
        doc: dict[str, Any],
        window: tuple[int, int] | None,
    ) -> bool:
        """Store the run document and queue it in one transaction. With a schedule ``window`` (start, end)
        the window is recorded too, and a window already fired makes the call a no-op (returns False)."""

    def last_window_end(self, flow_id: str) -> int | None: ...

    def claim(self, worker_id: str, stale_after_seconds: float) -> Claim | None:
        """Take the oldest queued run whose flow has no running run, or a running run whose worker stopped
        heart-beating ``stale_after_seconds`` ago (it resumes from its last commit)."""

    def heartbeat(self, claim: Claim) -> bool:
        """Refresh the claim; False when the run is no longer held by it (taken over, finished, cancelled)."""

    def holds(self, claim: Claim) -> bool:
        """Whether ``claim`` still holds its run (the fence checked before every write)."""

    def finish(self, claim: Claim) -> bool:
        """Mark the run done if ``claim`` still holds it; False (and nothing changed) otherwise."""

    def release(self, claim: Claim) -> bool:
        """Put a run this claim holds back in the queue (a worker shutting down mid-run)."""

    def requeue(self, run_id: str) -> None:
        """Queue a finished run again (re-trigger of a failed run)."""

    def cancel_flow(self, flow_id: str) -> list[str]:
        """End every queued or running run of the flow (the flow is being deleted): a running one stops at
        its next fence check without writing. Returns the run ids."""

    def update_run(self, claim: Claim, doc: dict[str, Any], if_etag: str) -> Stored | None:
        """Replace the run document if ``claim`` still holds the run and its etag is ``if_etag``, in one
        transaction; None when the claim is lost. Raises ``PreconditionFailed`` on an etag mismatch."""

    def queued_flows(self) -> set[str]:
        """Flows with a run queued or running."""

    def all_of_kind(self, kind: str) -> list[tuple[Any, Stored]]:
        """Every resource of ``kind`` across tenants, with its tenant (for the scheduler)."""

    def add_errors(self, run_id: str, errors: list[tuple[str, str, str]], limit: int) -> None:
        """Keep row errors (code, message, record JSON), at most ``limit`` per run."""

    def errors(self, run_id: str, start: int, limit: int) -> list[dict[str, Any]]: ...
