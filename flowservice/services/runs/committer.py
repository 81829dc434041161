"""A run's commits to its dataset: the window of pending changes committed when full (or at the end), each
commit fenced by the run's claim, carrying the source cursor after its pages, counted and reported; and the
deletes that end a full resync, a commit's worth at a time.

Exactly once rests on the lake's transaction check: a commit of transaction n+1 lands only where the flow's
newest is n; when another writer got there first, nothing of ours landed (``Superseded``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pyarrow as pa

from flowservice.domain.clock import now_ms
from flowservice.ports import Lake
from flowservice.ports.metrics import RunMetrics
from flowservice.services.runs.commits import commit_metadata
from flowservice.services.runs.context import Counters, RunContext
from flowservice.services.runs.pending import PendingChanges
from flowservice.services.runs.progress import RunProgress
from flowservice.services.runs.resync import KeySpill


class Superseded(Exception):
    """The lake already held the transaction this commit meant to write: another writer (a worker presumed
    dead that woke up) committed it, so nothing of this commit landed and our position is stale."""


class Committer:
    """The commits of every run of one engine (it holds no state of a run: that is the ``RunContext``)."""

    def __init__(
        self,
        lake: Lake,
        progress: RunProgress,
        metrics: RunMetrics,
        commit_every_rows: int,
        fence: Callable[[RunContext], None],
    ) -> None:
        self.lake = lake
        self.progress = progress
        self.metrics = metrics
        self.commit_every_rows = commit_every_rows
        self.fence = fence  # raises LostClaim unless the run is still ours

    def maybe(
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
            self.commit(ctx, schema, pending.tables, pending.delete_list(), out_pk, txn, cursor, final)
            pending.clear()
        else:
            self.progress.update(ctx, "inProgress")
        return txn

    def delete_missing(
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
        between them finds the mark and finishes the deletes (``RunEngine._finish_missing``) before reading changes."""
        missing = self.lake.missing_keys(
            ctx.plan.table_path, out_pk, seen.files(), self.commit_every_rows, seen.spill_dir()
        )
        try:
            for chunk in missing:
                while chunk:
                    if len(pending.deletes) >= self.commit_every_rows:  # full, and more keys follow
                        ctx.cursor_extra["deleting_missing"] = True
                        txn = self.maybe(ctx, schema, pending, out_pk, txn, final_cursor, False)
                    room = self.commit_every_rows - len(pending.deletes)
                    pending.add_deletes(chunk[:room])
                    chunk = chunk[room:]
        finally:
            close = getattr(missing, "close", None)
            if close is not None:
                close()  # the anti-join's connection, when the deletes stop early
        ctx.cursor_extra.pop("deleting_missing", None)
        self.maybe(ctx, schema, pending, out_pk, txn, final_cursor, True)

    def commit(
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
        cursor = commit_metadata(ctx, source_cursor, final, data.num_rows, len(deletes))
        self.fence(ctx)
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
        deleted_before = counters.deleted
        counters.written += result.rows_written
        counters.deleted += result.rows_deleted if plan.write_mode == "merge" else len(deletes)
        counters.bytes_out += result.bytes_written
        self.metrics.committed(ctx.tenant.org, result.rows_written, counters.deleted - deleted_before)
        ctx.committed = Counters(**asdict(counters))
        del data
        pending.clear()  # the caller's list too: the rows are in the lake now
        pa.default_memory_pool().release_unused()  # hand the batch's memory back rather than keep it pooled
        self.progress.update(ctx, "inProgress", force=True)
