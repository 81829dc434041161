"""The run engine: read pages from the source as Arrow, map them, commit them to the dataset's Delta table.

Exactly once: every commit carries the application transaction (flow id, sequence) and the source cursor
*after* the pages it holds, in the same atomic Delta commit. A run starts from the cursor of the last commit,
so a crash (or a retried commit) neither loses nor repeats a record. A run commits every
``commit_every_rows`` rows, so a crash loses at most that much work and never data.

The source's pages are read in a thread of their own (``PagesAhead``) while the engine maps and commits the
ones before: order, cursors and the commit sequence are the same as reading in turn.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, closing
from dataclasses import asdict, dataclass, field
from queue import Empty, Full, Queue
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from flowservice.domain.clock import now_ms
from flowservice.domain.errors import FlowServiceError, InvalidRequest, NotFound, SourceError
from flowservice.domain.mapping import MappingSet
from flowservice.domain.tenancy import Tenant
from flowservice.ports import Claim, Lake, Page, RunStore, TableSchema
from flowservice.services.catalog import CatalogService
from flowservice.services.connections import ConnectionService
from flowservice.services.flows import FlowPlan, FlowService
from flowservice.services.mapping import compile_mapping
from flowservice.services.pending import PendingChanges
from flowservice.services.resync import KeySpill
from flowservice.services.runs import LostClaim, RunService

log = logging.getLogger("flowservice.engine")
MAX_ERRORS_KEPT = 1000
PROGRESS_EVERY_SECONDS = 1.0
READ_AHEAD_PAGES = 1


class Superseded(Exception):
    """The lake already held the transaction this commit meant to write: another writer (a worker presumed
    dead that woke up) committed it, so nothing of this commit landed and our position is stale."""


class PagesAhead:
    """A source's pages, read in a thread of their own up to ``depth`` pages ahead of the loop that lands them.

    Reading a page (fetching, parsing, typing it) and landing the one before (mapping, committing) then overlap
    instead of taking turns; most of both runs outside the GIL (Arrow, delta-rs, sockets). Pages come out in
    the source's order, and an exception of the source comes out where it happened, after the pages before it.
    ``close`` (also on an early exit of the loop) stops the reading: the source's iterator is closed in its
    thread once the page being read is done. Memory: ``depth`` more pages than reading in turn.
    """

    _POLL = 0.2  # seconds between looks at the stop flag while waiting

    def __init__(self, pages: Iterator[Page], depth: int) -> None:
        self._pages = pages
        self._queue: Queue[tuple[str, Any]] = Queue(maxsize=max(1, depth))
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._read, name="source-pages", daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[Page]:
        while True:
            try:
                kind, value = self._queue.get(timeout=self._POLL)
            except Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    raise RuntimeError("the source's reading thread ended without a word") from None
                continue
            if kind == "page":
                yield value
            elif kind == "error":
                raise value
            else:
                return

    def close(self) -> None:
        self._stopped.set()
        while True:
            try:
                self._queue.get_nowait()
            except Empty:
                return

    def __enter__(self) -> PagesAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> None:
        try:
            for page in self._pages:
                if not self._put(("page", page)):
                    return
                del page
            self._put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the landing loop, which raises it
            self._put(("error", exc))
        finally:
            close = getattr(self._pages, "close", None)
            if close is not None:
                close()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=self._POLL)
                return True
            except Full:
                continue
        return False


class _Target(NamedTuple):
    compiled: Any  # the compiled mapping: batch -> table
    pk: str  # the source's primary key
    out_pk: str  # where the mapping puts it
    out_delta: str | None  # where the mapping puts the delta column


@dataclass
class Counters:
    read: int = 0
    written: int = 0
    deleted: int = 0
    failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    commits: int = 0
    full_resync: bool = False


@dataclass
class RunContext:
    tenant: Tenant
    run_id: str
    plan: FlowPlan
    batch_id: str
    started: int
    claim: Claim | None = None
    still_ours: Callable[[], bool] = lambda: True
    counters: Counters = field(default_factory=Counters)
    committed: Counters = field(default_factory=Counters)  # the counters as of our last landed commit
    notes: list[dict[str, str]] = field(default_factory=list)
    last_progress: float = 0.0
    cursor_extra: dict[str, Any] = field(default_factory=dict)  # committed beside the source cursor


class RunEngine:
    def __init__(
        self,
        runs: RunService,
        flows: FlowService,
        connections: ConnectionService,
        catalog: CatalogService,
        lake: Lake,
        queue: RunStore,
        *,
        commit_every_rows: int,
        page_size: int,
        read_ahead_pages: int = READ_AHEAD_PAGES,
    ) -> None:
        self.runs = runs
        self.flows = flows
        self.connections = connections
        self.catalog = catalog
        self.lake = lake
        self.queue = queue
        self.commit_every_rows = commit_every_rows
        self.page_size = page_size
        self.read_ahead_pages = read_ahead_pages

    # ------------------------------------------------------------------ one run
    def execute(self, claim: Claim, still_ours: Callable[[], bool] = lambda: True) -> str:
        """Run ``claim`` to its end and return the final status (success, partialSuccess or failed), or
        ``lost`` when the run stopped being ours (taken over, cancelled) and was left untouched.

        ``still_ours`` is the worker's view of its heartbeat; with the claim in the queue it fences every
        lake commit and every run-document update (``_fence``)."""
        tenant = Tenant(claim.org, claim.sandbox)
        try:
            return self._execute(claim, tenant, still_ours)
        except LostClaim:
            log.warning(
                "run %s (attempt %d) is no longer held by this worker; stopping without writing",
                claim.run_id,
                claim.attempt,
            )
            return "lost"

    def _execute(self, claim: Claim, tenant: Tenant, still_ours: Callable[[], bool]) -> str:
        run = self.runs.get(tenant, claim.run_id).doc
        try:
            plan = self.flows.plan(tenant, claim.flow_id)
        except FlowServiceError as exc:
            self._finish_without_plan(claim, exc)
            return "failed"
        started = run["metrics"]["durationSummary"].get("startedAtUTC") or now_ms()
        ctx = RunContext(tenant, claim.run_id, plan, run.get("batchId") or "", started, claim, still_ours)
        self._fence(ctx)  # before anything is created in the catalog
        ctx.batch_id = ctx.batch_id or self.catalog.open_batch(tenant, plan.dataset_id, claim.run_id, plan.flow_id)
        self._progress(ctx, "inProgress", force=True)
        status, error = "success", None
        try:
            self._land_from_last_commit(ctx, still_ours)
        except LostClaim:
            raise
        except FlowServiceError as exc:
            status, error = "failed", _error_entry(exc)
            log.warning("run %s failed: %s", claim.run_id, exc.message)
        except Exception:
            status, error = (
                "failed",
                {
                    "code": "CONNECTOR-1102-500",
                    "message": (
                        f"The run {claim.run_id} failed on an internal error. Its details are in the server log under "
                        "this run id; re-trigger the run to continue from its last commit."
                    ),
                },
            )
            log.exception("run %s failed unexpectedly", claim.run_id)
        if status == "success":
            status = self._status_from_failures(ctx)
        self._final(ctx, status, error)
        return status

    def _land_from_last_commit(self, ctx: RunContext, still_ours: Callable[[], bool]) -> None:
        """Ingest from the flow's last commit; when a commit turns out to be another writer's (``Superseded``),
        start again from the commit that beat it, if the run is still ours.

        The lake's own check makes this safe: a commit of transaction n+1 lands only on a table whose newest
        transaction of the flow is n, the one this writer read or wrote itself (a snapshot that another commit
        of the flow overtook fails Delta's conflict check). So the table's commits always form one chain, each
        starting at the cursor of the one before, whichever worker wrote it."""
        superseded = False
        while True:
            last = self.lake.last_commit(ctx.plan.table_path, ctx.plan.flow_id)
            saved = last.cursor if last else {}
            ours = saved.get("run_id") == ctx.run_id
            assert ctx.claim is not None
            if ours and int(saved.get("attempt") or 0) > ctx.claim.attempt:
                raise LostClaim(ctx.run_id)  # a newer claim of this run has written: we are the stale one
            self._fence(ctx)
            if ours and saved.get("final"):
                # the run's last commit landed but its end was not recorded (a crash in between): finish with
                # the counters of that commit, without reading again
                ctx.counters = Counters(**saved.get("counters", {}))
                return
            if superseded and not ours:
                ctx.counters = Counters(**asdict(ctx.committed))
            ctx.committed = Counters(**asdict(ctx.counters))
            try:
                self._ingest(ctx, still_ours)
                return
            except Superseded:
                superseded = True
                log.warning(
                    "run %s: another writer committed this transaction first; re-reading the last commit", ctx.run_id
                )

    def _fence(self, ctx: RunContext) -> None:
        """Stop unless the run is still ours: the heartbeat is fresh and the queue row is held by our claim."""
        if not ctx.still_ours() or (ctx.claim is not None and not self.queue.holds(ctx.claim)):
            raise LostClaim(ctx.run_id)

    def _ingest(self, ctx: RunContext, still_ours: Callable[[], bool]) -> None:
        plan = ctx.plan
        with closing(self.connections.open_source(ctx.tenant, plan.base_connection_id)) as source:
            schema = source.describe(plan.table)
            pk = schema.table.primary_key
            if not pk:
                raise InvalidRequest(f"The table {plan.table} has no primary key; it cannot be landed.")
            selected = _select(schema, plan.columns, (pk, plan.delta_column))
            mapping = plan.mapping or MappingSet.identity(selected.arrow_schema().names)
            compiled = compile_mapping(mapping, selected.arrow_schema())
            out_pk = mapping.destination_for(pk)
            if out_pk is None or "." in out_pk:
                raise InvalidRequest(f"The mapping must copy the primary key '{pk}' to a top-level field.")
            out_delta = mapping.destination_for(plan.delta_column)

            last = self.lake.last_commit(plan.table_path, plan.flow_id)
            txn = last.txn_version if last else 0
            saved = last.cursor if last else {}
            if saved.get("run_id") == ctx.run_id and not saved.get("final"):
                ctx.counters = Counters(**saved.get("counters", {}))  # resuming this very run
            source_cursor = saved.get("source")
            resumed_mid_read = bool(source_cursor and (source_cursor.get("next_link")))
            identity = self._source_identity(ctx)
            force_resync = resumed_mid_read and bool(saved.get("resync"))  # a full read of ours, interrupted
            if source_cursor and saved.get("identity") not in (None, identity):
                ctx.notes.append(_identity_note(saved["identity"], identity))
                source_cursor, resumed_mid_read, force_resync = None, False, True
            ctx.cursor_extra = {"identity": identity, "resync": force_resync}
            target = _Target(compiled, pk, out_pk, out_delta)
            if saved.get("deleting_missing") and source_cursor:  # a resync stopped while deleting missing keys
                keys = source.read(plan.table, [pk], None, delta_column=plan.delta_column, page_size=self.page_size)
                with PagesAhead(keys, self.read_ahead_pages) as key_pages:
                    self._finish_missing(ctx, key_pages, target, txn, source_cursor, still_ours)
                return
            overlap = _watermark(source_cursor) if plan.write_mode == "append" else None

            pages = PagesAhead(
                source.read(
                    plan.table,
                    [c.name for c in selected.columns] if plan.columns else None,
                    source_cursor,
                    delta_column=plan.delta_column,
                    page_size=self.page_size,
                ),
                self.read_ahead_pages,
            )
            with pages:
                self._land(ctx, pages, target, txn, overlap, resumed_mid_read, still_ours, force_resync)

    def _source_identity(self, ctx: RunContext) -> dict[str, Any]:
        """What a cursor reads: committed with it, so that a cursor is never resumed against another org,
        table, column set or delta column than the one it was taken from."""
        plan = ctx.plan
        base = self.connections.get(ctx.tenant, plan.base_connection_id).doc
        params = (base.get("auth") or {}).get("params") or {}
        return {
            "baseConnectionId": plan.base_connection_id,
            "org": _normalised_uri(params.get("serviceUri")),
            "table": plan.table,
            "deltaColumn": plan.delta_column,
            "columns": sorted(set(plan.columns)) if plan.columns else None,
        }  # as configured, not as found

    def _land(
        self,
        ctx: RunContext,
        pages: Iterable[Page],
        target: _Target,
        txn: int,
        overlap: str | None,
        resumed_mid_read: bool,
        still_ours: Callable[[], bool],
        force_resync: bool = False,
    ) -> None:
        """Map the pages and commit them every ``commit_every_rows`` rows (and at the last page), applying
        each page's changes in the source's order (``PendingChanges``). ``force_resync``: the read is a full
        read the engine asked for (the source changed), with delete detection like an expired token's."""
        plan, counters = ctx.plan, ctx.counters
        compiled, pk, out_pk, out_delta = target
        pending = PendingChanges(out_pk)
        with ExitStack() as cleanup:
            seen: KeySpill | None = None  # the keys of a full resync, spilled to disk page by page
            noted = False
            for page in pages:
                if not still_ours():
                    raise LostClaim()
                batch = page.batch
                counters.read += batch.num_rows
                counters.bytes_in += page.bytes_read
                if (page.full_resync or force_resync) and seen is None and not noted:
                    counters.full_resync = True
                    if resumed_mid_read:
                        noted = True
                        ctx.notes.append(
                            {
                                "code": "CONNECTOR-3001-200",
                                "message": (
                                    "A full resync resumed after an interruption: deletes made at the source before it "
                                    "are not detected by this run."
                                ),
                            }
                        )
                    else:
                        seen = cleanup.enter_context(KeySpill())
                batch = self._drop_rows_without_key(ctx, batch, pk)
                if seen is not None:
                    seen.add(batch.column(pk))  # before dropping re-read versions: those keys are in the source
                if overlap is not None and out_delta is not None:
                    batch = self._drop_already_landed(plan, batch, pk, plan.delta_column, out_pk, out_delta, overlap)
                if batch.num_rows:
                    pending.add_rows(compiled(batch))
                pending.add_deletes(page.deleted_keys)
                if page.final and seen is not None:
                    self._delete_missing(ctx, compiled.schema, pending, out_pk, txn, seen, page.cursor)
                    return
                txn = self._maybe_commit(ctx, compiled.schema, pending, out_pk, txn, page.cursor, page.final)
                del page, batch  # nothing of a landed page outlives its turn (``pending`` holds what is kept)

    def _maybe_commit(
        self,
        ctx: RunContext,
        schema: pa.Schema,
        pending: PendingChanges,
        out_pk: str,
        txn: int,
        cursor: dict[str, Any],
        final: bool,
    ) -> int:
        """Commit the window when it is full (or ``final``); the transaction number after it."""
        if pending.rows >= self.commit_every_rows or len(pending.deletes) >= self.commit_every_rows or final:
            txn += 1
            self._commit(ctx, schema, pending.tables, pending.delete_list(), out_pk, txn, cursor, final)
            pending.clear()
        else:
            self._progress(ctx, "inProgress")
        return txn

    def _delete_missing(
        self,
        ctx: RunContext,
        schema: pa.Schema,
        pending: PendingChanges,
        out_pk: str,
        txn: int,
        seen: KeySpill,
        final_cursor: dict[str, Any],
    ) -> None:
        """The end of a full resync: delete the dataset's keys it did not see, ``commit_every_rows`` at a time.

        Every commit but the last carries the read's final cursor marked ``deleting_missing``: a run stopped
        between them finds the mark and finishes the deletes (``_finish_missing``) before reading changes."""
        missing = self.lake.missing_keys(
            ctx.plan.table_path, out_pk, seen.files(), self.commit_every_rows, seen.spill_dir()
        )
        try:
            for chunk in missing:
                while chunk:
                    if len(pending.deletes) >= self.commit_every_rows:  # full, and more keys follow
                        ctx.cursor_extra["deleting_missing"] = True
                        txn = self._maybe_commit(ctx, schema, pending, out_pk, txn, final_cursor, False)
                    room = self.commit_every_rows - len(pending.deletes)
                    pending.add_deletes(chunk[:room])
                    chunk = chunk[room:]
        finally:
            close = getattr(missing, "close", None)
            if close is not None:
                close()  # the anti-join's connection, when the deletes stop early
        ctx.cursor_extra.pop("deleting_missing", None)
        self._maybe_commit(ctx, schema, pending, out_pk, txn, final_cursor, True)

    def _finish_missing(
        self,
        ctx: RunContext,
        pages: Iterable[Page],
        target: _Target,
        txn: int,
        final_cursor: dict[str, Any],
        still_ours: Callable[[], bool],
    ) -> None:
        """Finish the deletes of a full resync stopped half-way: the keys it saw are gone with its process, so
        read the source's keys again (the key column only), then delete what the dataset holds beyond them.
        Rows are not landed again: the read's final cursor stays, and the next run reads the changes since."""
        ctx.counters.full_resync = True
        pending = PendingChanges(target.out_pk)
        with KeySpill() as seen:
            for page in pages:
                if not still_ours():
                    raise LostClaim()
                keys = page.batch.column(target.pk)
                seen.add(pc.drop_null(keys))
            self._delete_missing(ctx, target.compiled.schema, pending, target.out_pk, txn, seen, final_cursor)

    def _commit(
        self,
        ctx: RunContext,
        schema: pa.Schema,
        pending: list[pa.Table],
        deletes: list[str],
        pk: str,
        txn: int,
        source_cursor: dict[str, Any],
        final: bool,
    ) -> None:
        plan, counters = ctx.plan, ctx.counters
        data = pa.concat_tables(pending, promote_options="permissive") if pending else schema.empty_table()
        counters.commits += 1
        cursor = {
            "source": source_cursor,
            "run_id": ctx.run_id,
            "final": final,
            **ctx.cursor_extra,
            "attempt": ctx.claim.attempt if ctx.claim else 0,
            "counters": {
                **asdict(counters),
                "written": counters.written + data.num_rows,
                "deleted": counters.deleted + len(deletes),
            },
        }
        self._fence(ctx)
        result = self.lake.commit(
            plan.table_path,
            data,
            mode=plan.write_mode,
            primary_key=pk,
            deleted_keys=deletes,
            app_id=plan.flow_id,
            txn_version=txn,
            cursor=cursor,
            change_time=now_ms(),
        )
        if result.noop:  # another writer holds this transaction: nothing of ours landed
            raise Superseded()
        counters.written += result.rows_written
        counters.deleted += result.rows_deleted if plan.write_mode == "merge" else len(deletes)
        counters.bytes_out += result.bytes_written
        ctx.committed = Counters(**asdict(counters))
        del data
        pending.clear()  # the caller's list too: the rows are in the lake now
        pa.default_memory_pool().release_unused()  # hand the batch's memory back rather than keep it pooled
        self._progress(ctx, "inProgress", force=True)

    # ------------------------------------------------------------------ row checks
    def _drop_rows_without_key(self, ctx: RunContext, batch: pa.RecordBatch, pk: str) -> pa.RecordBatch:
        missing = pc.is_null(batch.column(pk))
        bad = pc.sum(missing).as_py() or 0
        if not bad:
            return batch
        ctx.counters.failed += bad
        rejected = batch.filter(missing).slice(0, 20).to_pylist()
        self.queue.add_errors(
            ctx.run_id,
            [
                ("INGEST-1201-400", f"The record has no value for the primary key '{pk}'.", _json(row))
                for row in rejected
            ],
            MAX_ERRORS_KEPT,
        )
        return batch.filter(pc.invert(missing))

    def _drop_already_landed(
        self, plan: FlowPlan, batch: pa.RecordBatch, pk: str, delta: str, out_pk: str, out_delta: str, overlap: str
    ) -> pa.RecordBatch:
        """Append mode, watermark increments: the inclusive lower bound re-reads rows at the watermark; drop
        those whose (key, delta value) the dataset already holds, so a version is never appended twice.
        Values compare as epoch microseconds, exact on both sides."""
        delta_type = batch.schema.field(delta).type
        bound = pa.scalar(dt.datetime.fromisoformat(overlap.replace("Z", "+00:00")), delta_type)
        in_overlap = pc.fill_null(pc.less_equal(batch.column(delta), bound), False)
        if not (pc.sum(in_overlap).as_py() or 0) or not self.lake.stats(plan.table_path):
            return batch
        earliest = pc.min(pc.filter(batch.column(delta), in_overlap)).cast(pa.int64()).as_py()
        key, stamp = _ident(out_pk), _ident(out_delta)
        landed = self.lake.query(
            f"SELECT CAST({key} AS VARCHAR) AS k, epoch_us({stamp}) AS d FROM t "  # noqa: S608 - quoted names
            f"WHERE epoch_us({stamp}) >= {int(earliest)}",
            {"t": plan.table_path},
        )
        seen = set(zip(landed.column("k").to_pylist(), landed.column("d").to_pylist(), strict=True))
        if not seen:
            return batch
        keys = [str(k) for k in batch.column(pk).to_pylist()]
        stamps = pc.cast(batch.column(delta), pa.int64()).to_pylist()
        keep = [(k, s) not in seen for k, s in zip(keys, stamps, strict=True)]
        return batch.filter(pa.array(keep))

    def _status_from_failures(self, ctx: RunContext) -> str:
        counters, threshold = ctx.counters, ctx.plan.partial_ingestion_percent
        if not counters.failed:
            return "success"
        percent = 100.0 * counters.failed / max(1, counters.read)
        if threshold is None:
            return "partialSuccess"
        return "success" if percent <= float(threshold) else "failed"

    # ------------------------------------------------------------------ documents
    def _progress(self, ctx: RunContext, status: str, *, force: bool = False) -> None:
        if not force and time.monotonic() - ctx.last_progress < PROGRESS_EVERY_SECONDS:
            return
        ctx.last_progress = time.monotonic()
        counters = ctx.counters
        if not ctx.still_ours():
            raise LostClaim(ctx.run_id)

        def change(doc: dict[str, Any]) -> dict[str, Any]:
            doc["state"] = status
            doc["batchId"] = ctx.batch_id
            doc["metrics"] = _metrics(ctx, status, doc["metrics"], None)
            doc["activities"] = _activities(ctx, status, doc)
            return doc

        assert ctx.claim is not None
        self.runs.update_doc(ctx.claim, change)
        self.catalog.update_batch(
            ctx.tenant,
            ctx.batch_id,
            recordCount=counters.written,
            failedRecordCount=counters.failed,
            deletedRecordCount=counters.deleted,
            size=counters.bytes_out,
        )

    def _final(self, ctx: RunContext, status: str, error: dict[str, str] | None) -> None:
        counters = ctx.counters
        completed = now_ms()
        assert ctx.claim is not None
        if not ctx.still_ours():
            raise LostClaim(ctx.run_id)

        def change(doc: dict[str, Any]) -> dict[str, Any]:
            doc["state"] = status
            doc["batchId"] = ctx.batch_id
            doc["metrics"] = _metrics(ctx, status, doc["metrics"], error, completed)
            doc["activities"] = _activities(ctx, status, doc, completed)
            return doc

        self.runs.update_doc(ctx.claim, change)  # fenced: a stale worker stops here
        batch_status = {"success": "success", "partialSuccess": "success"}.get(status, "failed")
        self.catalog.update_batch(
            ctx.tenant,
            ctx.batch_id,
            status=batch_status,
            recordCount=counters.written,
            failedRecordCount=counters.failed,
            deletedRecordCount=counters.deleted,
            size=counters.bytes_out,
            completed=completed,
            errors=[error] if error else [],
        )
        if not self.queue.finish(ctx.claim):
            log.warning("run %s ended its document but its claim was lost before the queue row", ctx.run_id)
        seconds = max(0.001, (completed - ctx.started) / 1000)
        log.info(
            "run %s %s: read %d, written %d, deleted %d, failed %d in %.1fs (%.0f rows/s)",
            ctx.run_id,
            status,
            counters.read,
            counters.written,
            counters.deleted,
            counters.failed,
            seconds,
            counters.read / seconds,
        )

    def _finish_without_plan(self, claim: Claim, exc: FlowServiceError) -> None:
        def change(doc: dict[str, Any]) -> dict[str, Any]:
            doc["state"] = "failed"
            doc["metrics"]["statusSummary"] = {"status": "failed", "errors": [_error_entry(exc)]}
            doc["metrics"]["durationSummary"] = {"startedAtUTC": now_ms(), "completedAtUTC": now_ms()}
            return doc

        self.runs.update_doc(claim, change)
        self.queue.finish(claim)


def _select(schema: TableSchema, wanted: list[str] | None, always: tuple[str, ...]) -> TableSchema:
    if not wanted:
        return schema
    keep = set(wanted) | set(always)
    return TableSchema(schema.table, tuple(c for c in schema.columns if c.name in keep))


def _normalised_uri(uri: Any) -> str | None:
    """An org address as one spelling: lower-case scheme and host, no default port, no trailing slash."""
    if not isinstance(uri, str) or not uri.strip():
        return None
    parts = urlsplit(uri.strip())
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port and parts.port != 443 else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/')}"


def _identity_note(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return {
        "code": "CONNECTOR-3002-200",
        "message": (
            f"The source of this flow changed since its last run ({', '.join(changed)}): its cursor does not apply, "
            "so the table is read in full and rows the source does not have are deleted."
        ),
    }


def _watermark(cursor: dict[str, Any] | None) -> str | None:
    if cursor and cursor.get("mode") == "watermark" and cursor.get("value") is not None:
        return str(cursor["value"])
    return None


def _ident(name: str) -> str:
    """A DuckDB identifier, quoted (mapping destinations are user input)."""
    return '"' + name.replace('"', '""') + '"'


def _json(row: dict[str, Any]) -> str:
    return orjson.dumps(row, default=str).decode()


def _error_entry(exc: FlowServiceError) -> dict[str, str]:
    prefix = "CONNECTOR" if isinstance(exc, SourceError) else ("MAPPER" if exc.code == "1419" else "FLOW")
    if isinstance(exc, NotFound):
        prefix = "FLOW"
    return {"code": f"{prefix}-{exc.code}-{exc.status}", "message": exc.message}


def _metrics(
    ctx: RunContext, status: str, old: dict[str, Any], error: dict[str, str] | None, completed: int | None = None
) -> dict[str, Any]:
    c = ctx.counters
    errors = list(ctx.notes) + ([error] if error else [])
    if c.failed:
        errors.append(
            {
                "code": "INGEST-1212-400",
                "message": f"Encountered {c.failed} errors in the data. "
                f"Successfully ingested {c.written} rows. Read the row errors at /runs/{ctx.run_id}/errors.",
            }
        )
    duration: dict[str, Any] = {"startedAtUTC": ctx.started}
    if completed:
        duration["completedAtUTC"] = completed
    return {
        "durationSummary": duration,
        "sizeSummary": {"inputBytes": c.bytes_in, "outputBytes": c.bytes_out},
        "recordSummary": {
            "inputRecordCount": c.read,
            "outputRecordCount": c.written,
            "failedRecordCount": c.failed,
            "deletedRecordCount": c.deleted,
        },
        "fileSummary": {"outputFileCount": c.commits},
        "statusSummary": {
            "status": status,
            "errors": errors,
            "extensions": {**old.get("statusSummary", {}).get("extensions", {}), "fullResync": c.full_resync},
            "activityRefs": ["copyActivity", "promotionActivity"],
        },
    }


def _activities(ctx: RunContext, status: str, doc: dict[str, Any], completed: int | None = None) -> list[Any]:
    c = ctx.counters
    duration: dict[str, Any] = {"startedAtUTC": ctx.started, "extensions": doc.get("windowExtensions", {})}
    if completed:
        duration["completedAtUTC"] = completed
    return [
        {
            "id": "copyActivity",
            "updatedAtUTC": now_ms(),
            "durationSummary": duration,
            "sizeSummary": {"inputBytes": c.bytes_in, "outputBytes": c.bytes_in},
            "recordSummary": {"inputRecordCount": c.read},
            "statusSummary": {
                "status": status,
                "extensions": {"type": doc["metrics"]["statusSummary"].get("extensions", {}).get("type", "scheduled")},
            },
            "sourceInfo": [
                {
                    "id": ctx.plan.source_connection_id,
                    "type": "SourceConnection",
                    "reference": {"type": "Table", "ids": [ctx.plan.table]},
                }
            ],
        },
        {
            "id": "promotionActivity",
            "updatedAtUTC": now_ms(),
            "durationSummary": {k: v for k, v in duration.items() if k != "extensions"},
            "sizeSummary": {"inputBytes": c.bytes_in, "outputBytes": c.bytes_out},
            "recordSummary": {
                "inputRecordCount": c.read,
                "outputRecordCount": c.written,
                "failedRecordCount": c.failed,
                "deletedRecordCount": c.deleted,
            },
            "statusSummary": {"status": status},
            "targetInfo": [
                {
                    "id": ctx.plan.target_connection_id,
                    "type": "TargetConnection",
                    "reference": {"type": "Batch", "ids": [ctx.batch_id]},
                    "dataSetId": ctx.plan.dataset_id,
                    "writeMode": ctx.plan.write_mode,
                }
            ],
        },
    ]
