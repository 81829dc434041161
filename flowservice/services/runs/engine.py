"""The run engine: read pages from the source as Arrow, map them, commit them to the dataset's Delta table.

Exactly once: every commit carries the application transaction (flow id, sequence) and the source cursor
*after* the pages it holds, in the same atomic Delta commit. A run starts from the cursor of the last commit,
so a crash (or a retried commit) neither loses nor repeats a record. A run commits every
``commit_every_rows`` rows, so a crash loses at most that much work and never data.

The source's cursor is the source's own: the engine stores it and hands it back, and asks the source what it
means (``SourceClient.cursor_info``). The commit's metadata around it (run, attempt, counters, identity,
resync marks) is the engine's. The source's pages are read in a thread of their own (``PagesAhead``) while
the engine maps and commits the ones before: order, cursors and the commit sequence are the same as reading
in turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack, closing
from dataclasses import asdict
from typing import Any, NamedTuple, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from flowservice.domain.clock import now_ms
from flowservice.domain.errors import FlowServiceError, InvalidRequest
from flowservice.domain.mapping import MappingSet
from flowservice.domain.tenancy import Tenant
from flowservice.ports import Claim, CursorInfo, Lake, Page, RunErrors, RunQueue, SourceClient, Stored, TableSchema
from flowservice.ports.metrics import NoMetrics, RunMetrics
from flowservice.services.flows import FlowPlan
from flowservice.services.mapping import CompiledMapping, compile_mapping
from flowservice.services.runs.attachments import FileLanding
from flowservice.services.runs.commits import SavedCommit
from flowservice.services.runs.committer import Committer, Superseded
from flowservice.services.runs.context import Counters, RunContext
from flowservice.services.runs.documents import LostClaim, full_refresh_requested
from flowservice.services.runs.drift import drift_note, schema_changes
from flowservice.services.runs.identity import changed_fields, identity_note, source_identity
from flowservice.services.runs.pages_ahead import READ_AHEAD_PAGES, PagesAhead
from flowservice.services.runs.pending import PendingChanges
from flowservice.services.runs.progress import RunProgress, error_entry, internal_error, log_end, status_from_failures
from flowservice.services.runs.resync import FULL_REFRESH_NOTE, RESUMED_RESYNC_NOTE, KeySpill, resync_note
from flowservice.services.runs.rows import drop_already_landed, drop_rows_without_key

log = logging.getLogger("flowservice.engine")


class Plans(Protocol):
    """What a flow's run executes (``FlowService``)."""

    def plan(self, tenant: Tenant, id: str, applied: list[Any] | None = None) -> FlowPlan:
        """``applied``: the ``transformations`` the run recorded at its start, whose mapping version wins."""


class Sources(Protocol):
    """The source behind a base connection, and the connection's document for the cursor's identity
    (``ConnectionService``)."""

    def open_source(
        self, tenant: Tenant, id: str, *, options: Mapping[str, Any] | None = None, fresh: bool = False
    ) -> SourceClient: ...

    def get(self, tenant: Tenant, id: str) -> Stored: ...


class _Target(NamedTuple):
    compiled: CompiledMapping  # batch -> table
    pk: str  # the source's primary key
    out_pk: str  # where the mapping puts it
    out_delta: str | None  # where the mapping puts the delta column


class RunEngine:
    def __init__(
        self,
        *,
        plans: Plans,
        sources: Sources,
        lake: Lake,
        queue: RunQueue,
        errors: RunErrors,
        progress: RunProgress,
        commit_every_rows: int,
        page_size: int,
        read_ahead_pages: int = READ_AHEAD_PAGES,
        metrics: RunMetrics | None = None,
    ) -> None:
        self.plans = plans
        self.sources = sources
        self.lake = lake
        self.queue = queue
        self.errors = errors
        self.progress = progress
        self.commit_every_rows = commit_every_rows
        self.page_size = page_size
        self.read_ahead_pages = read_ahead_pages
        self.metrics: RunMetrics = metrics or NoMetrics()
        self.committer = Committer(lake, progress, self.metrics, commit_every_rows, self._fence)

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
        run = self.progress.document(claim)
        try:
            # a run applies the mapping version it recorded at its start (its first document update), never
            # a later one: a retry or a takeover of it reads the record; the first attempt, the flow's version
            plan = self.plans.plan(tenant, claim.flow_id, run.get("transformations"))
        except FlowServiceError as exc:
            self.progress.failed_without_plan(claim, exc)
            self.queue.finish(claim)
            return "failed"
        started = run["metrics"]["durationSummary"].get("startedAtUTC") or now_ms()
        ctx = RunContext(tenant, claim.run_id, plan, run.get("batchId") or "", started, claim, still_ours)
        ctx.full_refresh = full_refresh_requested(run)
        self._fence(ctx)  # before anything is created in the catalog
        ctx.batch_id = ctx.batch_id or self.progress.open_batch(ctx)
        self.progress.update(ctx, "inProgress", force=True)
        status, error = "success", None
        try:
            self._land_from_last_commit(ctx)
        except LostClaim:
            raise
        except FlowServiceError as exc:
            status, error = "failed", error_entry(exc)
            log.warning("run %s failed: %s", claim.run_id, exc.message)
        except Exception:
            status, error = "failed", internal_error(claim.run_id)
            log.exception("run %s failed unexpectedly", claim.run_id)
        if status == "success":
            status = status_from_failures(ctx.counters, plan.partial_ingestion_percent)
        completed = self.progress.final(ctx, status, error)
        if not self.queue.finish(claim):
            log.warning("run %s ended its document but its claim was lost before the queue row", ctx.run_id)
        log_end(ctx, status, completed)
        self.metrics.run_ended(claim.org, status, max(0.0, (completed - ctx.started) / 1000))
        return status

    def _land_from_last_commit(self, ctx: RunContext) -> None:
        """Ingest from the flow's last commit; when a commit turns out to be another writer's (``Superseded``),
        start again from the commit that beat it, if the run is still ours.

        The lake's own check makes this safe: a commit of transaction n+1 lands only on a table whose newest
        transaction of the flow is n, the one this writer read or wrote itself (a snapshot that another commit
        of the flow overtook fails Delta's conflict check). So the table's commits always form one chain, each
        starting at the cursor of the one before, whichever worker wrote it."""
        superseded = False
        while True:
            last = SavedCommit.of(self.lake.last_commit(ctx.plan.table_path, ctx.plan.flow_id))
            ours = last.by(ctx.run_id)
            if ours and last.attempt > ctx.claim.attempt:
                raise LostClaim(ctx.run_id)  # a newer claim of this run has written: we are the stale one
            self._fence(ctx)
            if ours and last.final:
                # the run's last commit landed but its end was not recorded (a crash in between): finish with
                # the counters of that commit, without reading again
                ctx.counters = last.counters()
                return
            if superseded and not ours:
                ctx.counters = Counters(**asdict(ctx.committed))
            ctx.committed = Counters(**asdict(ctx.counters))
            try:
                self._ingest(ctx)
                return
            except Superseded:
                superseded = True
                log.warning(
                    "run %s: another writer committed this transaction first; re-reading the last commit", ctx.run_id
                )

    def _fence(self, ctx: RunContext) -> None:
        """Stop unless the run is still ours: the heartbeat is fresh and the queue row is held by our claim."""
        if not ctx.still_ours() or not self.queue.holds(ctx.claim):
            raise LostClaim(ctx.run_id)

    def _ingest(self, ctx: RunContext) -> None:
        plan = ctx.plan
        opened = self.sources.open_source(ctx.tenant, plan.base_connection_id, options=plan.source_options, fresh=True)
        with closing(opened) as source:
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

            last = SavedCommit.of(self.lake.last_commit(plan.table_path, plan.flow_id))
            txn = last.txn
            if last.by(ctx.run_id) and not last.final:
                ctx.counters = last.counters()  # resuming this very run
            source_cursor = last.source_cursor
            info = source.cursor_info(source_cursor) if source_cursor else CursorInfo()
            connection = self.sources.get(ctx.tenant, plan.base_connection_id).doc
            identity = source_identity(plan, connection, source.account_identity())
            force_resync = info.mid_read and last.resync  # a full read of ours, interrupted
            if source_cursor and last.identity is not None and changed_fields(last.identity, identity):
                ctx.notes.append(identity_note(last.identity, identity))
                source_cursor, info, force_resync = None, CursorInfo(), True
            if ctx.full_refresh:
                _note_once(ctx, FULL_REFRESH_NOTE)
                if source_cursor and not last.by(ctx.run_id):  # a commit of this run: resume its own read
                    source_cursor, info, force_resync = None, CursorInfo(), True
            ctx.cursor_extra = {"identity": identity, "resync": force_resync}
            self._note_drift(ctx, compiled.schema, last)
            target = _Target(compiled, pk, out_pk, out_delta)
            if last.deleting_missing and source_cursor:  # a resync stopped while deleting missing keys
                self._finish_missing(ctx, source, target, txn, source_cursor)
                return
            overlap = info.overlap_until if plan.write_mode == "append" else None

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
                ended = self._land(ctx, pages, target, txn, overlap, info.mid_read, force_resync)
            if ended is not None:  # a resync resumed mid-read: what it saw before is gone with its process
                self._finish_missing(ctx, source, target, *ended)

    def _note_drift(self, ctx: RunContext, landing: pa.Schema, last: SavedCommit) -> None:
        """Say which columns appeared or went since the dataset was last written (``drift.py``)."""
        changes, gone = schema_changes(
            self.lake.stats(ctx.plan.table_path).get("columns"), landing, last.saved.get("gone_columns") or ()
        )
        ctx.cursor_extra["gone_columns"] = gone
        if changes:
            ctx.schema_changes = changes
            ctx.notes.append(drift_note(changes))

    def _land(
        self,
        ctx: RunContext,
        pages: Iterable[Page],
        target: _Target,
        txn: int,
        overlap: str | None,
        resumed_mid_read: bool,
        force_resync: bool = False,
    ) -> tuple[int, dict[str, Any]] | None:
        """Map the pages and commit them every ``commit_every_rows`` rows (and at the last page), applying
        each page's changes in the source's order (``PendingChanges``). ``force_resync``: the read is a full
        read the engine asked for (the source changed), with delete detection like an expired token's.

        A resync resumed mid-read never saw the keys read before the interruption, so it cannot tell what the
        source deleted: its last page is committed as ``deleting_missing`` (not final) and ``(txn, final
        cursor)`` returned, for the caller to read the source's keys again (``_finish_missing``)."""
        plan, counters = ctx.plan, ctx.counters
        compiled, pk, out_pk, out_delta = target
        pending = PendingChanges(out_pk)
        files = FileLanding(self.lake, ctx)
        with ExitStack() as cleanup:
            seen: KeySpill | None = None  # the keys of a full resync, spilled to disk page by page
            noted = False
            for page in pages:
                if not ctx.still_ours():
                    raise LostClaim()
                batch = page.batch
                counters.read += batch.num_rows
                counters.bytes_in += page.bytes_read
                counters.throttled += page.throttled_requests
                counters.throttled_seconds += page.throttled_seconds
                if (page.full_resync or force_resync) and seen is None and not noted:
                    counters.full_resync = True
                    if page.resync_reason:
                        ctx.notes.append(resync_note(page.resync_reason))
                    if resumed_mid_read:
                        noted = True
                        ctx.notes.append(dict(RESUMED_RESYNC_NOTE))
                    else:
                        seen = cleanup.enter_context(KeySpill())
                failed_before = counters.failed
                batch = drop_rows_without_key(self.errors, ctx.run_id, counters, batch, pk)
                self.metrics.pages_read(
                    ctx.tenant.org,
                    page.batch.num_rows,
                    counters.failed - failed_before,
                    page.throttled_requests,
                    page.throttled_seconds,
                )
                if seen is not None:
                    seen.add(batch.column(pk))  # before dropping re-read versions: those keys are in the source
                if overlap is not None and out_delta is not None:
                    batch = drop_already_landed(
                        self.lake, plan.table_path, batch, pk, plan.delta_column, out_pk, out_delta, overlap
                    )
                files.store(page)  # before the commit that lands the page's rows
                if batch.num_rows:
                    pending.add_rows(compiled(batch))
                pending.add_deletes(page.deleted_keys)
                if page.final and seen is not None:
                    self.committer.delete_missing(ctx, compiled.schema, pending, out_pk, txn, seen, page.cursor)
                    return None
                if page.final and noted:
                    ctx.cursor_extra["deleting_missing"] = True
                    txn += 1
                    self.committer.commit(
                        ctx, compiled.schema, pending.tables, pending.delete_list(), out_pk, txn, page.cursor, False
                    )
                    pending.clear()
                    return txn, page.cursor
                txn = self.committer.maybe(ctx, compiled.schema, pending, out_pk, txn, page.cursor, page.final)
                del page, batch  # nothing of a landed page outlives its turn (``pending`` holds what is kept)
        return None

    def _finish_missing(
        self,
        ctx: RunContext,
        source: SourceClient,
        target: _Target,
        txn: int,
        final_cursor: dict[str, Any],
    ) -> None:
        """Finish the deletes of a full resync whose keys are gone with an earlier process (it stopped while
        deleting, or was resumed mid-read): read the source's keys again (the key column only), then delete
        what the dataset holds beyond them. Rows are not landed again: the read's final cursor stays, and the
        next run reads the changes since."""
        ctx.counters.full_resync = True
        plan, pending = ctx.plan, PendingChanges(target.out_pk)
        keys = source.read(plan.table, [target.pk], None, delta_column=plan.delta_column, page_size=self.page_size)
        with PagesAhead(keys, self.read_ahead_pages) as pages, KeySpill() as seen:
            for page in pages:
                if not ctx.still_ours():
                    raise LostClaim()
                seen.add(pc.drop_null(page.batch.column(target.pk)))
            self.committer.delete_missing(ctx, target.compiled.schema, pending, target.out_pk, txn, seen, final_cursor)


def _note_once(ctx: RunContext, note: dict[str, str]) -> None:
    """Add ``note`` to the run's notes unless it is there (``_ingest`` runs again after ``Superseded``)."""
    if note not in ctx.notes:
        ctx.notes.append(dict(note))


def _select(schema: TableSchema, wanted: list[str] | None, always: tuple[str, ...]) -> TableSchema:
    if not wanted:
        return schema
    keep = set(wanted) | set(always)
    return TableSchema(schema.table, tuple(c for c in schema.columns if c.name in keep))
