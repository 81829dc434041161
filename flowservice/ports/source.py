"""The source port: what the engine and explore need from a source account. Data crosses as Arrow: a
source yields ``Page``s of record batches typed from metadata."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pyarrow as pa

#: The factory parameter that carries a source connection's options for a call (its params beyond the
#: table and columns, e.g. Dynamics' ``lookupNames``): a source that has none ignores it.
SOURCE_OPTIONS = "_sourceOptions"
#: The factory parameter set (True) when a client is opened for a run: it describes tables from fresh metadata,
#: not from a cache, so that a column added at the source lands on the next run.
FRESH_METADATA = "_freshMetadata"
#: The factory parameter set (True) when a client is opened for an explore: a source that caches metadata keeps
#: it only briefly for such a client, so that an explore shows the source as it is now (a column added a minute
#: ago included) while the calls of one screen still share one read.
EXPLORING = "_exploring"


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
class Attachment:
    """One file a page's rows point at, whose contents the engine stores beside the dataset (``Lake.put_file``)
    before it commits the page: the source knows how to fetch it, the lake where to keep it, neither the other.

    ``key`` names the file for good (its contents never change under it: a new file gets a new key), so the
    lake keeps one object per key and a retried page rewrites the same one. ``open()`` starts the download and
    gives its chunks, or the reason it will not be downloaded after all (gone from the source since the page was
    read, over the run's total); it is called only for a file the lake does not hold. ``skipped`` says why the
    source will not download it at all (over a size limit); the engine then writes nothing and tells the run.
    """

    column: str
    key: str
    size: int | None
    open: Callable[[], Iterator[bytes] | str]
    skipped: str | None = None


@dataclass(frozen=True)
class Page:
    """One page of a read.

    ``batch`` holds upserted/new rows typed by the table schema (restricted to the requested columns, the
    primary key always included). ``deleted_keys`` are primary keys the source reports deleted.
    ``cursor`` is the JSON-serialisable position *after* this page: storing it with the data of this page and
    passing it back to ``read`` resumes exactly after it; only the source reads inside it (``cursor_info``).
    ``final`` is True on the last page of the read; its cursor is the one the next incremental run starts from
    (e.g. a delta link or a watermark). ``throttled_requests`` and ``throttled_seconds``: the remote's throttling
    answers (429) since the page before, and the time spent waiting to retry them, for the run's metrics.
    ``attachments``: files of the page's rows to store before the page lands (empty unless the source
    connection asked for file contents).
    """

    batch: pa.RecordBatch
    deleted_keys: list[str] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)
    final: bool = False
    full_resync: bool = False  # True when the source had to restart from scratch (expired delta token)
    resync_reason: str | None = None  # why the source restarted from scratch, for the run's document
    bytes_read: int = 0
    throttled_requests: int = 0
    throttled_seconds: float = 0.0
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class CursorInfo:
    """What a cursor means to the engine, which never looks inside one (its format is the source's own, and
    cursors stored by earlier versions must keep their meaning)."""

    mid_read: bool = False
    """The cursor stops between two pages of one read: reading from it continues that read, so a full read
    resumed there never sees the keys of the pages before it (and cannot tell which keys are gone)."""
    overlap_until: str | None = None
    """A read from the cursor starts at an inclusive lower bound of the delta column and re-reads the rows at
    or before this value (ISO 8601): versions the dataset may hold already, which append mode drops."""


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

    def cursor_info(self, cursor: dict[str, Any]) -> CursorInfo:
        """What ``cursor`` (one this source's ``read`` yielded, maybe by an earlier version) means to the engine."""

    def account_identity(self) -> dict[str, str]:
        """What the account is as found now (for Dynamics: the organization's id and version), asked once per
        run. The engine stores it beside each cursor; a value that differs from the one of the last commit
        (the org was copied, reset or restored) means the cursor does not apply, and the table is read in
        full. ``{}`` when the source cannot tell (configuration is then the only identity)."""

    def close(self) -> None: ...


class SourceFactory(Protocol):
    def __call__(self, spec_id: str, auth_spec_name: str, params: Mapping[str, Any]) -> SourceClient: ...
