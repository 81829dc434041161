"""The run queue on the metadata database: claims are single UPDATE statements guarded by status, and a
partial unique index allows one running run per flow, so any number of worker processes can share it.

Every claim increments the row's ``attempt``; (``claimed_by``, ``attempt``) is the claim's fencing token.
Heartbeats, ``finish`` and ``release`` are conditional on it (``held``), and so are run-document updates
(``store.run_documents``), so a worker that was presumed dead and woke up changes nothing its successor owns.
Which queued run is claimed next, and the limits on running runs per org and per base connection, are
``store.fair_claims``. The other run roles share these tables: ``run_documents``, ``schedules`` (fired
windows) and ``run_errors``.

With a ``Dispatch`` (scale-out on procrastinate, ``flowservice/dispatch``) every write that makes a run
claimable (enqueue, requeue, release) also hands it to the dispatcher in the same transaction, so a run never
exists without its job, nor a job without its run; ``claim_run`` is the targeted claim its jobs make."""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from sqlalchemy import Dialect, Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowservice.domain.clock import now_ms
from flowservice.domain.tenancy import Tenant
from flowservice.ports import Claim, FlowBusy, worker_process
from flowservice.store.db import writing
from flowservice.store.fair_claims import Candidate, Limits, fair_queued, room, stalled, take_turn
from flowservice.store.resources import new_etag
from flowservice.store.tables import FiredWindowRow, ResourceRow, RunQueueRow

IDLE_IN_TRANSACTION_MS = 5000


class _NotClaimed(Exception):
    """The guarded UPDATE matched nothing: end the claim's transaction without keeping its turn."""


class Dispatch(Protocol):
    """What hands a claimable run to an outside dispatcher, inside the transaction that made it claimable."""

    def defer(self, session: Session, run_id: str, flow_id: str, org: str) -> None: ...


class SqlRunQueue:
    """The ``RunQueue`` port: enqueue, claim, heartbeat, finish, release, requeue, cancel; and
    ``TargetedClaims`` (``claim_run``) for a dispatcher's jobs."""

    def __init__(self, engine: Engine, limits: Limits | None = None, *, dispatch: Dispatch | None = None) -> None:
        self._engine = engine
        self.limits = limits or Limits()
        self._dispatch = dispatch

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
                        queued_seq=next_in_line(session.get_bind().dialect),
                    )
                )
                if self._dispatch is not None:
                    session.flush()
                    self._dispatch.defer(session, run_id, flow_id, tenant.org)
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
        with writing(self._engine), Session(self._engine) as session, session.begin():
            bounded(session)
            result = session.execute(update(RunQueueRow).where(*held(claim)).values(**_back_in_line(session)))
            released = bool(result.rowcount)  # type: ignore[attr-defined]
            if released and self._dispatch is not None:
                self._dispatch.defer(session, claim.run_id, claim.flow_id, claim.org)
            return released

    def requeue(self, run_id: str) -> None:
        with writing(self._engine), Session(self._engine) as session, session.begin():
            session.execute(update(RunQueueRow).where(RunQueueRow.run_id == run_id).values(**_back_in_line(session)))
            if self._dispatch is not None and (row := session.get(RunQueueRow, run_id)) is not None:
                self._dispatch.defer(session, run_id, row.flow_id, row.org)

    def claim_run(self, run_id: str, worker_id: str) -> Claim | None:
        """The targeted claim of a dispatcher's job: whoever held the run before is fenced by the new attempt
        (the dispatcher decided that holder is gone: its job stalled, or was handed back). A queued run starts
        only within the org's and the connection's limits (``store.fair_claims``), like a polled claim."""
        now = now_ms()
        try:
            with writing(self._engine), Session(self._engine) as session, session.begin():
                bounded(session)
                row = session.get(RunQueueRow, run_id)
                if row is None or row.status not in ("queued", "running"):
                    return None
                guard: list[Any] = [RunQueueRow.status == "running"]
                if row.status == "queued":  # a running run is counted by the limits already
                    take_turn(session, row.org, row.connection_id, now)
                    guard = [RunQueueRow.status == "queued", *room(self.limits, row.org, row.connection_id)]
                result = session.execute(
                    update(RunQueueRow)
                    .where(RunQueueRow.run_id == run_id, *guard)
                    .values(status="running", claimed_by=worker_id, heartbeat_at=now, attempt=RunQueueRow.attempt + 1)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    raise _NotClaimed
                session.refresh(row)
                return Claim(row.run_id, row.flow_id, row.org, row.sandbox, row.attempt, worker_id)
        except _NotClaimed:
            raise FlowBusy(run_id) from None  # the org or the connection is at its limit (or the row just changed)
        except IntegrityError:
            raise FlowBusy(run_id) from None  # another run of this flow is running

    def connection_readers(self, claim: Claim, fresh_within_seconds: float) -> tuple[str, int]:
        fresh_after = now_ms() - int(fresh_within_seconds * 1000)
        with Session(self._engine) as session:
            connection_id = session.scalar(select(RunQueueRow.connection_id).where(RunQueueRow.run_id == claim.run_id))
            if not connection_id:
                return "", 1
            holders = session.scalars(
                select(RunQueueRow.claimed_by).where(
                    RunQueueRow.connection_id == connection_id,
                    RunQueueRow.status == "running",
                    RunQueueRow.heartbeat_at >= fresh_after,
                )
            )
            processes = {worker_process(worker) for worker in holders if worker}
        return connection_id, len(processes | {worker_process(claim.worker)})

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


def next_in_line(dialect: Dialect) -> Any:
    """The ``queued_seq`` that puts a run at the back of the queue, computed by the statement that queues it.

    On PostgreSQL, the column's identity: unique, increasing in the order the statements run. On SQLite, one more
    than the largest (an index lookup): SQLite takes its single write lock before the statement reads, and holds it
    until commit, so no other writer, thread or process, can read the same largest meanwhile (and the unique index
    would refuse it if one did)."""
    if dialect.name == "postgresql":
        return text("DEFAULT")
    return select(func.coalesce(func.max(RunQueueRow.queued_seq), 0) + 1).scalar_subquery()


def _back_in_line(session: Session) -> dict[str, Any]:
    """A run queued again (handed back, re-triggered): unclaimed, and behind every run queued before it."""
    return {
        "status": "queued",
        "claimed_by": None,
        "heartbeat_at": 0,
        "created_at": now_ms(),
        "queued_seq": next_in_line(session.get_bind().dialect),
    }


def held(claim: Claim) -> tuple[Any, ...]:
    """The fence: the run is running, and held by this very claim (worker and attempt)."""
    return (
        RunQueueRow.run_id == claim.run_id,
        RunQueueRow.status == "running",
        RunQueueRow.claimed_by == claim.worker,
        RunQueueRow.attempt == claim.attempt,
    )
