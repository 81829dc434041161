"""``DeltaLake``: the ``Lake`` port on Delta Lake tables, written by delta-rs (no Spark, no JVM).

Exactly once, by construction:

* every ``commit`` is one Delta commit holding the data, the deletes, the application transaction
  ``(app_id, txn_version)`` and the cursor — it happens entirely or not at all;
* before writing we ask the table for ``app_id``'s last transaction, and do nothing when it is already at
  or past ``txn_version`` (``noop``: a retried run, or another worker wrote it). delta-rs itself does not
  refuse a repeated ``(app_id, version)``: from a fresh snapshot it appends it again (measured, 1.6.6), so
  this check is the guard, and it is made on the very snapshot the commit is then made against (a table kept
  open since the lake's previous commit to it is first brought up to date, ``open_tables.py``);
* a commit whose snapshot is older than any commit carrying a ``txn`` of the same app id fails Delta's
  conflict check (``ConcurrentTransaction``), whatever its own version; we then re-read and decide again.
  Check and commit are therefore atomic: transaction n+1 lands only on top of the table's transaction n.
  The engine builds on that (a ``noop`` means another writer's commit, see ``services/runs/engine.py``);
* the first commit creates the table, refusing to if it exists meanwhile (then re-reads). Two creators at
  the very same instant can both succeed in delta-rs 1.6.6 (a second "create" lands as version 1); the
  run queue's fence makes that need two owners of one flow within one commit, which it prevents. A later
  transaction (version > 1) never creates the table: finding it gone means the dataset was deleted under a
  running run, and re-creating it would leave an orphan holding part of a read.

Memory: delta-rs's MERGE holds the whole target table while it joins (about 1.6 GB per million 80-column
rows, measured), so a merge batch none of whose keys is in the table yet — an initial load, new records
only — is appended instead, after a scan of the key column alone. That shortcut is a blind append: two
*different* app ids writing the same new keys into one table at the same moment could both insert them.
One flow per dataset, whose runs never overlap, is the supported shape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from flowservice.domain.errors import FlowServiceError, InvalidRequest, NotFound
from flowservice.lake import changes, commitlog, key_check, key_stats, query, widen
from flowservice.lake.files import FileStore
from flowservice.lake.key_index import KeyIndexes
from flowservice.lake.open_tables import OpenTables, digest
from flowservice.lake.s3_probe import check_conditional_put
from flowservice.lake.schema import delta_type, evolve
from flowservice.lake.storage import TABLE_CONFIGURATION, Storage
from flowservice.lake.store_errors import lake_unavailable
from flowservice.lake.widen import widened
from flowservice.ports import CommitResult, LastCommit, WriteMode

if TYPE_CHECKING:  # imported where a key lookup reads files: a first load never does, and saves its ~30 MB
    import pyarrow.dataset as pads

log = logging.getLogger(__name__)


class DeltaLake:
    """Datasets as Delta tables under ``root``: a folder, or ``s3://bucket/prefix`` with storage options."""

    def __init__(
        self, root: str, storage_options: dict[str, str] | None = None, *, attempts: int = 3, keep_open: int = 8
    ) -> None:
        self._storage = Storage(root, storage_options)
        self._attempts = attempts
        self._files = FileStore(self._storage)
        self._open_tables = OpenTables(limit=keep_open)  # between commits (lake/open_tables.py)
        self._key_indexes = KeyIndexes()  # what a merge checks a batch's keys against (lake/key_index.py)

    def check_storage(self, *, conditional_put: bool = True) -> None:
        """At start-up: an S3 lake must answer to our credentials and refuse a second put-if-absent
        (``lake/s3_probe.py``); ``LakeUnavailable`` says why not. A local folder needs no check."""
        if not self._storage.is_local and conditional_put:
            check_conditional_put(self._storage.root, self._storage.options)

    def location(self, table_path: str) -> str:
        """The table's URI, for tools that read Delta directly (Spark, DuckDB, Polars)."""
        return self._storage.uri(table_path)

    # ------------------------------------------------------------------------------------------- write

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
        """Write ``data`` and ``deleted_keys`` in one commit, unless ``(app_id, txn_version)`` is already in.

        merge: rows_written counts inserted + updated rows, rows_deleted the rows actually removed.
        append: rows_written counts upsert rows, rows_deleted the delete markers appended.
        """
        if mode not in ("merge", "append"):
            raise InvalidRequest(f"Unknown write mode {mode!r}; expected 'merge' or 'append'.")
        uri = self._storage.uri(table_path)
        commitlog.commit_properties(app_id, txn_version, cursor)  # reject a bad cursor before any I/O
        failure: Exception | None = None
        for _ in range(self._attempts):
            table, opened_at = self._open_to_commit(uri)
            if table is None and txn_version > 1:
                # the writer built on an earlier commit of this table, which is gone: the dataset was deleted
                # under a running run. Re-creating it would leave an orphan table holding part of a read.
                raise NotFound(
                    "The dataset's table was deleted while the run was writing to it; nothing more was written.",
                    resource_type="dataset",
                )
            if table is not None:
                done = table.transaction_version(app_id)
                if done is not None and done >= txn_version:
                    return CommitResult(table.version(), 0, 0, 0, noop=True)
            properties = commitlog.commit_properties(app_id, txn_version, cursor)
            try:
                if table is not None and (schema := widened(_arrow_schema(table) or pa.schema([]), data.schema)):
                    widen.rewrite(uri, table, schema, self._options())  # a type the source widened (widen.py)
                    table = self._open(uri)
                    opened_at = table.version() if table is not None else -1
                if table is not None:
                    table = self._with_key_stats(uri, table, primary_key)
                if mode == "merge":
                    version, written, deleted = self._merge(uri, table, data, primary_key, deleted_keys, properties)
                else:
                    version, written, deleted = self._append(
                        uri, table, data, primary_key, deleted_keys, change_time, properties
                    )
            except (CommitFailedError, _CreatedMeanwhile) as exc:  # another writer committed first: re-read
                failure = exc
                continue
            except DeltaError as exc:
                # the text of a delta-rs error names files and URIs of the lake: the server log keeps it, the
                # run's error (which tenants read) does not
                log.warning("writing %s (%s #%s) failed: %s", uri, app_id, txn_version, exc)
                raise FlowServiceError(
                    "Writing to the dataset failed on a storage error; nothing of this "
                    "commit landed. Re-trigger the run to continue from its last commit."
                ) from exc
            except OSError as exc:  # the object store refused or stopped answering in the middle of the write
                log.warning("writing %s (%s #%s) failed: %s", uri, app_id, txn_version, exc)
                raise lake_unavailable(exc) from exc
            if version is None:
                version, table = self._version_of(uri, app_id, txn_version)
                opened_at = version
            return CommitResult(version, written, deleted, self._landed(uri, version, table, opened_at))
        log.warning("writing %s (%s #%s) kept conflicting: %s", uri, app_id, txn_version, failure)
        raise FlowServiceError(
            "Writing to the dataset failed: other writers kept committing to it at the same "
            "time. Re-trigger the run to continue from its last commit."
        ) from failure

    def _merge(
        self,
        uri: str,
        table: DeltaTable | None,
        data: pa.Table,
        primary_key: str,
        deleted_keys: list[str],
        properties: CommitProperties,
    ) -> tuple[int | None, int, int]:
        target = _arrow_schema(table)
        data = _with_key(data, primary_key, target)
        changes.check_keys(data, primary_key)
        rows = evolve(target, data)
        deletes = changes.keys_array(deleted_keys, rows.schema.field(primary_key).type)
        upserts = changes.upserts(rows, primary_key, deletes)
        if table is None:  # first commit creates the table: nothing to delete yet
            self._create(uri, upserts, primary_key, properties)
            return None, upserts.num_rows, 0
        before = table.version()
        keys = pa.concat_arrays([upserts.column(primary_key).combine_chunks(), deletes])
        if key_check.holds_any(table, primary_key, keys, self._key_indexes, uri):
            source = changes.merge_source(upserts, primary_key, deletes)
            metrics = _merge_into(table, source, rows.column_names, primary_key, target, properties)
            if table.version() != before:
                self._key_indexes.landed(uri, primary_key, before, table.version(), upserts.column(primary_key))
                written = metrics["num_target_rows_inserted"] + metrics["num_target_rows_updated"]
                return table.version(), written, metrics["num_target_rows_deleted"]
            upserts = upserts.slice(0, 0)  # the MERGE changed nothing, so delta-rs committed nothing
        # No key of the batch is in the table (an initial load, new records only, deletes of absent keys):
        # appending is then the same as merging, without a MERGE whose memory grows with the table; with
        # no rows it still commits, so the transaction and the cursor advance.
        _append_rows(table, upserts, target, properties)
        self._key_indexes.landed(uri, primary_key, before, table.version(), upserts.column(primary_key))
        return table.version(), upserts.num_rows, 0

    def _append(
        self,
        uri: str,
        table: DeltaTable | None,
        data: pa.Table,
        primary_key: str,
        deleted_keys: list[str],
        change_time: int | None,
        properties: CommitProperties,
    ) -> tuple[int | None, int, int]:
        target = _arrow_schema(table)
        data = _with_key(data, primary_key, target)
        changes.check_keys(data, primary_key)
        data = evolve(target, data)  # type checks, and the key gets the table's key type
        deletes = changes.keys_array(deleted_keys, data.schema.field(primary_key).type)
        rows = evolve(target, changes.change_rows(data, primary_key, deletes, change_time))
        if table is None:
            self._create(uri, rows, primary_key, properties)
            return None, data.num_rows, len(deletes)
        _append_rows(table, rows, target, properties)
        return table.version(), data.num_rows, len(deletes)

    def _create(self, uri: str, rows: pa.Table, primary_key: str, properties: CommitProperties) -> None:
        """Create the table with its first rows in one commit, with statistics for the key wherever it is in the
        schema (``key_stats.py``). Its version is looked up afterwards.

        ``mode="error"``: a writer that found no table, then was paused while another created it, must not
        append its first transaction blindly to that table (delta-rs does not refuse a transaction version
        already in the log); it re-reads instead, and finds the transaction there."""
        try:
            write_deltalake(
                uri,
                rows,
                mode="error",
                configuration={**TABLE_CONFIGURATION, **key_stats.configuration(rows.schema, primary_key)},
                storage_options=self._options(),
                commit_properties=properties,
            )
        except DeltaError as exc:
            if self._open(uri) is not None:
                raise _CreatedMeanwhile() from exc
            raise

    def _with_key_stats(self, uri: str, table: DeltaTable, primary_key: str) -> DeltaTable:
        """``table``, given statistics for its key first if its files get none (a table created before the lake
        set them, ``key_stats.py``): a commit of its own, without a transaction, like a widening. Its older
        files keep no key ranges until ``optimize`` rewrites them. Best effort: the commit goes on without."""
        schema = _arrow_schema(table)
        if schema is None or primary_key not in schema.names:
            return table
        if key_stats.has_stats(table.metadata().configuration, schema, primary_key):
            return table
        wanted = key_stats.configuration(schema, primary_key)
        if not wanted:
            return table
        try:
            table.alter.set_table_properties(wanted)
            log.info("%s: statistics for the key column %s from now on", uri, primary_key)
            return table
        except DeltaError as exc:
            log.warning("could not give %s statistics for its key %s: %s", uri, primary_key, exc)
            return table  # as it was: the commit's own conflict check judges its snapshot

    def _landed(self, uri: str, version: int, table: DeltaTable | None, opened_at: int) -> int:
        """The bytes commit ``version`` added; keeps ``table`` (opened at version ``opened_at``) open for the next
        commit when its snapshot is that version. The size is a metric only: the commit has landed, so failing
        to read it must not fail the write (the table is then not kept)."""
        try:
            entry = commitlog.log_entry(uri, self._storage.options, version)
            added = commitlog.added_bytes(entry)
        except (OSError, ValueError, DeltaError) as exc:
            log.warning("could not read the size of commit %s of %s: %s", version, uri, exc)
            return 0
        if table is not None and table.version() == version:
            self._open_tables.keep(uri, table, version, entry, opened_at)
        return added

    def _version_of(self, uri: str, app_id: str, txn_version: int) -> tuple[int, DeltaTable | None]:
        table = self._open(uri)
        found = commitlog.find_commit(table, app_id, txn_version) if table is not None else None
        if found is None:
            log.warning("the commit of %s #%s is missing from %s", app_id, txn_version, uri)
            raise FlowServiceError(
                "A commit just written is missing from the dataset's log; the run stops. "
                "Re-trigger it to continue from its last commit."
            )
        return found[0], table

    # -------------------------------------------------------------------------------------------- read

    def last_commit(self, table_path: str, app_id: str) -> LastCommit | None:
        """The newest transaction of ``app_id`` and the cursor committed with it.

        If the transaction is known but its commit entry is gone from the log (another tool cleaned a
        log older than its retention), the cursor is ``{}``: the next run reads everything again, which
        a merge absorbs; losing data silently would be worse.
        """
        table = self._open(self._storage.uri(table_path))
        if table is None:
            return None
        version = table.transaction_version(app_id)
        if version is None:
            return None
        found = commitlog.find_commit(table, app_id, version)
        if found is None:
            log.warning("cursor of %s #%s not in the log of %s; starting over", app_id, version, table_path)
            return LastCommit(txn_version=version, cursor={}, table_version=table.version())
        return LastCommit(txn_version=version, cursor=found[1], table_version=found[0])

    def read(self, table_path: str) -> pa.Table:
        return self._require(table_path).to_pyarrow_table()

    def dataset(self, table_path: str) -> pads.Dataset:
        """A lazy Arrow dataset over the current version: scans read only the columns and files they need."""
        return self._require(table_path).to_pyarrow_dataset()

    def stats(self, table_path: str) -> dict[str, Any]:
        """Version, row count and size from the log (no data is read); columns as ``{name, type}``."""
        table = self._open(self._storage.uri(table_path))
        if table is None:
            return {}
        files = pa.table(table.get_add_actions(flatten=False))
        schema = pa.schema(table.schema().to_arrow())
        return {
            "version": table.version(),
            "rows": table.count(),
            "size_bytes": int(pc.sum(files.column("size_bytes")).as_py() or 0),
            "columns": [{"name": f.name, "type": delta_type(f)} for f in schema],
        }

    def query(self, sql: str, tables: Mapping[str, str]) -> pa.Table:
        return query.run(sql, {name: self._query_dataset(path) for name, path in tables.items()})

    def _query_dataset(self, table_path: str) -> pads.Dataset:
        """``dataset`` with its text columns declared ``string_view``: delta-rs's merge writes text as views, and
        Arrow cannot evaluate a filter DuckDB pushes down (``tablename = 'account'``) on such a file when the
        dataset says ``string`` (``equal(string, string_view)`` has no kernel); declared as views, files of
        either kind are read as one type, and DuckDB answers text as usual."""
        table = self._require(table_path)
        schema = table.to_pyarrow_dataset().schema
        views = [f.with_type(pa.string_view()) if pa.types.is_string(f.type) else f for f in schema]
        return table.to_pyarrow_dataset(schema=pa.schema(views, metadata=schema.metadata))

    def missing_keys(
        self, table_path: str, primary_key: str, seen: Sequence[str], chunk_rows: int, spill_dir: str
    ) -> Iterator[list[str]]:
        if self._open(self._storage.uri(table_path)) is None:
            return
        for batch in query.missing_keys(self.dataset(table_path), primary_key, seen, chunk_rows, spill_dir):
            for start in range(0, batch.num_rows, chunk_rows):
                yield batch.column(0).slice(start, chunk_rows).to_pylist()

    # ------------------------------------------------------------------------------------------ files

    def file_size(self, table_path: str, column: str, key: str) -> int | None:
        return self._files.size(table_path, column, key)

    def put_file(self, table_path: str, column: str, key: str, chunks: Iterable[bytes], size: int | None) -> int:
        return self._files.put(table_path, column, key, chunks, size)

    # --------------------------------------------------------------------------------------- maintain

    def drop(self, table_path: str) -> None:
        self._open_tables.forget(self._storage.uri(table_path))
        self._key_indexes.forget(self._storage.uri(table_path))
        try:
            self._storage.remove(table_path)
        except OSError as exc:  # the object store refused or did not answer; dropping again finishes the job
            log.warning("dropping %s failed: %s", table_path, exc)
            raise lake_unavailable(exc) from exc

    def optimize(self, table_path: str, *, retention_hours: int = 168) -> dict[str, Any]:
        """Compact small files, then delete files unreferenced for ``retention_hours`` (including files
        left by failed writes). Keeps application transactions: compaction carries them over."""
        table = self._require(table_path)
        compacted = table.optimize.compact()
        removed = table.vacuum(
            retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False, full=True
        )
        return {"version": table.version(), "compaction": compacted, "files_removed": len(removed)}

    # ------------------------------------------------------------------------------------------ helpers

    def _options(self) -> dict[str, str] | None:
        return self._storage.options or None

    def _open_to_commit(self, uri: str) -> tuple[DeltaTable | None, int]:
        """The table at its newest version, to commit to, and the version it was opened afresh at: the one kept
        open since this lake's last commit to it, brought up to date from the log's newer entries, if the entry
        of the version it was kept at is still the one it committed (``lake/open_tables.py``); otherwise, or on
        any doubt, the table opened afresh."""
        kept = self._open_tables.take(uri)
        if kept is not None:
            try:
                kept.table.update_incremental()
                if digest(commitlog.log_entry(uri, self._storage.options, kept.version)) == kept.entry_digest:
                    return kept.table, kept.opened_at
                log.info("the log of %s changed under its kept snapshot (re-created?); opening it again", uri)
            except (OSError, ValueError, DeltaError) as exc:  # gone, or unreadable: let a fresh open tell
                log.info("refreshing the kept snapshot of %s failed (%s); opening it again", uri, exc)
        table = self._open(uri)
        return table, table.version() if table is not None else -1

    def _open(self, uri: str) -> DeltaTable | None:
        try:
            return DeltaTable(uri, storage_options=self._options())
        except TableNotFoundError:
            return None
        except OSError as exc:  # the object store refused or did not answer: say which, without its paths
            log.warning("opening %s failed: %s", uri, exc)
            raise lake_unavailable(exc) from exc

    def _require(self, table_path: str) -> DeltaTable:
        table = self._open(self._storage.uri(table_path))
        if table is None:
            raise NotFound("The dataset has no table yet: nothing has been landed in it.", resource_type="dataset")
        return table


class _CreatedMeanwhile(Exception):
    """The table did not exist when we looked, and did when we tried to create it."""


def _arrow_schema(table: DeltaTable | None) -> pa.Schema | None:
    return pa.schema(table.schema().to_arrow()) if table is not None else None


def _with_key(data: pa.Table, primary_key: str, target: pa.Schema | None) -> pa.Table:
    """An empty batch may come without columns; give it the key so it still fits the table."""
    if primary_key in data.column_names or data.num_rows:
        return data
    key_type = target.field(primary_key).type if target and primary_key in target.names else pa.string()
    return data.append_column(pa.field(primary_key, key_type), pa.array([], key_type))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _merge_into(
    table: DeltaTable,
    source: pa.Table,
    columns: list[str],
    primary_key: str,
    target: pa.Schema | None,
    properties: CommitProperties,
) -> dict[str, Any]:
    """One MERGE: delete tagged deletes, update-all matched upserts, insert-all new upserts.

    Columns are listed explicitly so the tag column is never written, and ``merge_schema`` adds new ones.
    """
    key, op = _quote(primary_key), _quote(changes.OP)
    assignments = {_quote(c): f"s.{_quote(c)}" for c in columns}
    evolving = target is not None and bool(set(columns) - set(target.names))
    return (
        table.merge(
            source,
            predicate=f"t.{key} = s.{key}",
            source_alias="s",
            target_alias="t",
            merge_schema=evolving,
            commit_properties=properties,
        )
        .when_matched_delete(predicate=f"s.{op} = 'delete'")
        .when_matched_update(assignments, predicate=f"s.{op} = 'upsert'")
        .when_not_matched_insert(assignments, predicate=f"s.{op} = 'upsert'")
        .execute()
    )


def _append_rows(table: DeltaTable, rows: pa.Table, target: pa.Schema | None, properties: CommitProperties) -> None:
    evolving = target is not None and bool(set(rows.column_names) - set(target.names))
    write_deltalake(
        table,
        rows,
        mode="append",
        schema_mode="merge" if evolving else None,
        commit_properties=properties,
    )
