"""Run retention: finished runs older than the retention period, or beyond the number kept per flow, are
deleted with their row errors and queue rows, in small batches so that no transaction holds the write lock
for long. A queued or running run is never pruned (its queue row is not ``done``), nor the newest run of a
flow, which ``lastRunDetails`` shows."""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from sqlalchemy import Engine, Table, and_, delete, func, or_, select

from flowservice.store.db import writing
from flowservice.store.tables import ResourceRow, RunErrorRow, RunQueueRow

log = logging.getLogger("flowservice.retention")

_DAY_MS = 86_400_000
_RUNS = cast(Table, ResourceRow.__table__)
_QUEUE = cast(Table, RunQueueRow.__table__)
_ERRORS = cast(Table, RunErrorRow.__table__)


class RunRetention:
    """``days``: finished runs last changed longer ago are pruned (0 keeps them forever). ``per_flow``: at
    most this many runs are kept per flow, newest first (0: no limit)."""

    def __init__(self, engine: Engine, *, days: float, per_flow: int, batch: int = 500) -> None:
        self._engine = engine
        self.days = days
        self.per_flow = per_flow
        self.batch = batch

    def prune(self, now_ms: int | None = None) -> int:
        """Delete what the settings allow; return how many runs went."""
        if self.days <= 0 and self.per_flow <= 0:
            return 0
        now = int(time.time() * 1000) if now_ms is None else now_ms
        total = 0
        while True:
            ids = self._candidates(now)
            if not ids:
                break
            total += self._delete(ids)
            if len(ids) < self.batch:
                break
        if total:
            log.info("pruned %d finished run(s) past their retention", total)
        return total

    def _candidates(self, now: int) -> list[str]:
        ranked = (
            select(
                _QUEUE.c.run_id,
                _QUEUE.c.status,
                _RUNS.c.updated_at,
                func.row_number()
                .over(partition_by=_QUEUE.c.flow_id, order_by=(_RUNS.c.created_at.desc(), _RUNS.c.id.desc()))
                .label("rank"),
            )
            .join(_RUNS, and_(_RUNS.c.kind == "runs", _RUNS.c.id == _QUEUE.c.run_id))
            .subquery()
        )
        expired: list[Any] = []
        if self.days > 0:
            expired.append(ranked.c.updated_at < now - int(self.days * _DAY_MS))
        if self.per_flow > 0:
            expired.append(ranked.c.rank > self.per_flow)
        statement = (
            select(ranked.c.run_id).where(ranked.c.status == "done", ranked.c.rank > 1, or_(*expired)).limit(self.batch)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(statement).scalars())

    def _delete(self, ids: list[str]) -> int:
        with writing(self._engine), self._engine.begin() as conn:
            # the queue row decides: a run re-triggered meanwhile is queued again and stays
            gone = list(
                conn.execute(
                    delete(_QUEUE).where(_QUEUE.c.run_id.in_(ids), _QUEUE.c.status == "done").returning(_QUEUE.c.run_id)
                ).scalars()
            )
            if gone:
                conn.execute(delete(_ERRORS).where(_ERRORS.c.run_id.in_(gone)))
                conn.execute(delete(_RUNS).where(_RUNS.c.kind == "runs", _RUNS.c.id.in_(gone)))
            return len(gone)
