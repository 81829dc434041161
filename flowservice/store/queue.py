"""The run queue on the metadata database: claims are single UPDATE statements guarded by status, and a
partial unique index allows one running run per flow, so any number of worker processes can share it.

Every claim increments the row's ``attempt``; (``claimed_by``, ``attempt``) is the claim's fencing token.
Heartbeats, ``finish`` and ``release`` are conditional on it (``held``), and so are run-document updates
(``store.run_documents``), so a worker that was presumed dead and woke up changes nothing its successor owns.
Which queued run is claimed next, and the limits on running runs per org and per base connection, are
``store.fair_claims``. The other run roles share these tables: ``run_documents``, ``schedules`` (fired
windows) and ``run_errors``."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowservice.domain.clock import now_ms
from flowservice.domain.tenancy import Tenant
from flowservice.ports import Claim
from flowservice.store.db import writing
from flowservice.store.fair_claims import Candidate, Limits, fair_queued, room, stalled, take_turn
from flowservice.store.resources import new_etag
from flowservice.store.tables import FiredWindowRow, ResourceRow, RunQueueRow

IDLE_IN_TRANSACTION_MS = 5000


class _NotClaimed(Exception):
    """The guarded UPDATE matched nothing: end the claim's transaction without keeping its turn."""


class SqlRunQueue:
    """The ``RunQueue`` port: enqueue, claim, heartbeat, finish, release, requeue, cancel."""

    def __init__(self, engine: Engine, limits: Limits | None = None) -> None:
        self._engine = engine
        self.limits = limits or Limits()

    def enqueue(
        self,
        kind: str,
        tenant: Tenant,
        run_id: str,
        flow_id: str,
        doc: dict[str, Any],
        window: tuple[int, int] | None,
        connection_id: str = "",
    ) -> bool:
        stamp = now_ms()
        etag = new_etag()
        doc = {**doc, "id": run_id, "createdAt": stamp, "updatedAt": stamp, "etag": etag, "version": etag}
        try:
            with writing(self._engine), Session(self._engine) as session, session.begin():
                if window is not None:
                    session.add(
                        FiredWindowRow(flow_id=flow_id, window_start=window[0], window_end=window[1], run_id=run_id)
                    )
                    session.flush()
                session.add(
                    ResourceRow(
                        kind=kind,
                        id=run_id,
                        org=tenant.org,
                        sandbox=tenant.sandbox,
                        doc=orjson.dumps(doc).decode(),
                        secrets=None,
                        etag=etag,
                        created_at=stamp,
                        updated_at=stamp,
                        seq=0,
                    )
                )
                session.add(
                    RunQueueRow(
                        run_id=run_id,
                        flow_id=flow_id,
                        org=tenant.org,
                        sandbox=tenant.sandbox,
                        status="queued",
                        attempt=0,
                        claimed_by=None,
                        heartbeat_at=0,
                        created_at=stamp,
                        connection_id=connection_id,
                    )
                )
        except IntegrityError:
            if window is not None:
                return False  # this window has fired already
            raise
        return True

    def claim(self, worker_id: str, stale_after_seconds: float) -> Claim | None:
        now = now_ms()
        stale_before = now - int(stale_after_seconds * 1000)
        for candidate in self._candidates(stale_before):
            try:
                with writing(self._engine), Session(self._engine) as session, session.begin():
                    bounded(session)
                    # the guard repeats the whole condition: the run may have finished (or been taken) since the
                    # SELECT, and the org may have reached its limit
                    if candidate.status == "running":
                        guard = [RunQueueRow.status == "running", RunQueueRow.heartbeat_at < stale_before]
                    else:
                        take_turn(session, candidate.org, candidate.connection_id, now)
                        limits = room(self.limits, candidate.org, candidate.connection_id)
                        guard = [RunQueueRow.status == "queued", *limits]
                    result = session.execute(
                        update(RunQueueRow)
                        .where(RunQueueRow.run_id == candidate.run_id, *guard)
                        .values(
                            status="running", claimed_by=worker_id, heartbeat_at=now, attempt=RunQueueRow.attempt + 1
                        )
                    )
                    if result.rowcount != 1:  # type: ignore[attr-defined]
                        raise _NotClaimed  # rolls the turn back too
                    row = session.get(RunQueueRow, candidate.run_id)
                    assert row is not None
                    return Claim(row.run_id, row.flow_id, row.org, row.sandbox, row.attempt, worker_id)
            except (_NotClaimed, IntegrityError):
                continue  # taken or finished meanwhile, the org is full, or another run of this flow started
        return None

    def _candidates(self, stale_before: int) -> list[Candidate]:
        """Runs worth trying to claim: stalled runs first (their worker died, they resume from their last
        commit), then queued runs in the fair order (``store.fair_claims``)."""
        with Session(self._engine) as session:
            return stalled(session, stale_before) + fair_queued(session, self.limits)

    def heartbeat(self, claim: Claim) -> bool:
        return self._fenced_update(claim, heartbeat_at=now_ms())

    def holds(self, claim: Claim) -> bool:
        with Session(self._engine) as session:
            return session.execute(select(RunQueueRow.run_id).where(*held(claim))).first() is not None

    def finish(self, claim: Claim) -> bool:
        return self._fenced_update(claim, status="done")

    def release(self, claim: Claim) -> bool:
        return self._fenced_update(claim, status="queued", claimed_by=None, heartbeat_at=0, created_at=now_ms())

    def requeue(self, run_id: str) -> None:
        with writing(self._engine), Session(self._engine) as session, session.begin():
            session.execute(
                update(RunQueueRow)
                .where(RunQueueRow.run_id == run_id)
                .values(status="queued", claimed_by=None, heartbeat_at=0, created_at=now_ms())
            )

    def cancel_flow(self, flow_id: str) -> list[str]:
        with writing(self._engine), Session(self._engine) as session, session.begin():
            bounded(session)
            active = RunQueueRow.status.in_(("queued", "running"))
            ids = list(
                session.execute(
                    select(RunQueueRow.run_id).where(RunQueueRow.flow_id == flow_id, active).with_for_update()
                ).scalars()
            )
            if ids:
                session.execute(
                    update(RunQueueRow).where(RunQueueRow.run_id.in_(ids), active).values(status="cancelled")
                )
            return ids

    def _fenced_update(self, claim: Claim, **values: Any) -> bool:
        with writing(self._engine), Session(self._engine) as session, session.begin():
            bounded(session)
            result = session.execute(update(RunQueueRow).where(*held(claim)).values(**values))
            return bool(result.rowcount)  # type: ignore[attr-defined]


def bounded(session: Session) -> None:
    """On PostgreSQL, end this transaction if its client stops talking mid-way (a worker frozen by the OS, a
    paused VM): otherwise the queue row it locked would stall every other worker until it wakes."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}"))


def held(claim: Claim) -> tuple[Any, ...]:
    """The fence: the run is running, and held by this very claim (worker and attempt)."""
    return (
        RunQueueRow.run_id == claim.run_id,
        RunQueueRow.status == "running",
        RunQueueRow.claimed_by == claim.worker,
        RunQueueRow.attempt == claim.attempt,
    )
