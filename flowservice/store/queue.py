"""The run queue on the metadata database: claims are single UPDATE statements guarded by status, and a
partial unique index allows one running run per flow, so any number of worker processes can share it.

Every claim increments the row's ``attempt``; (``claimed_by``, ``attempt``) is the claim's fencing token.
Heartbeats, ``finish``, ``release`` and run-document updates (``update_run``) are conditional on it, so a
worker that was presumed dead and woke up changes nothing its successor owns."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, and_, exists, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from flowservice.domain.clock import now_ms
from flowservice.domain.errors import PreconditionFailed
from flowservice.domain.tenancy import Tenant
from flowservice.ports import Claim, Stored
from flowservice.store.db import writing
from flowservice.store.resources import new_etag
from flowservice.store.tables import FiredWindowRow, ResourceRow, RunErrorRow, RunQueueRow

IDLE_IN_TRANSACTION_MS = 5000


class SqlRunQueue:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create_run(
        self,
        kind: str,
        tenant: Tenant,
        run_id: str,
        flow_id: str,
        doc: dict[str, Any],
        window: tuple[int, int] | None,
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
                    )
                )
        except IntegrityError:
            if window is not None:
                return False  # this window has fired already
            raise
        return True

    def last_window_end(self, flow_id: str) -> int | None:
        with Session(self._engine) as session:
            value = session.execute(
                select(func.max(FiredWindowRow.window_end)).where(FiredWindowRow.flow_id == flow_id)
            ).scalar()
            return int(value) if value is not None else None

    def claim(self, worker_id: str, stale_after_seconds: float) -> Claim | None:
        now = now_ms()
        stale_before = now - int(stale_after_seconds * 1000)
        for run_id, status in self._candidates(stale_before):
            # the guard repeats the whole condition: the run may have finished (or been taken) since the SELECT
            guard = (
                and_(RunQueueRow.status == "running", RunQueueRow.heartbeat_at < stale_before)
                if status == "running"
                else RunQueueRow.status == "queued"
            )
            try:
                with writing(self._engine), Session(self._engine) as session, session.begin():
                    _bounded(session)
                    result = session.execute(
                        update(RunQueueRow)
                        .where(RunQueueRow.run_id == run_id, guard)
                        .values(
                            status="running", claimed_by=worker_id, heartbeat_at=now, attempt=RunQueueRow.attempt + 1
                        )
                    )
                    if result.rowcount != 1:  # type: ignore[attr-defined]
                        continue
                    row = session.get(RunQueueRow, run_id)
                    assert row is not None
                    return Claim(row.run_id, row.flow_id, row.org, row.sandbox, row.attempt, worker_id)
            except IntegrityError:
                continue  # another run of this flow started meanwhile
        return None

    def _candidates(self, stale_before: int) -> list[tuple[str, str]]:
        """Runs worth trying to claim: a stalled run first (its worker died, it resumes from its last
        commit), then the oldest queued runs whose flow has no running run."""
        other = aliased(RunQueueRow)
        with Session(self._engine) as session:
            rows = session.execute(
                select(RunQueueRow.run_id, RunQueueRow.status)
                .where(
                    or_(
                        and_(RunQueueRow.status == "running", RunQueueRow.heartbeat_at < stale_before),
                        and_(
                            RunQueueRow.status == "queued",
                            ~exists().where(other.flow_id == RunQueueRow.flow_id, other.status == "running"),
                        ),
                    )
                )
                .order_by(RunQueueRow.status.desc(), RunQueueRow.created_at)
                .limit(8)
            ).all()
        return [(run_id, status) for run_id, status in rows]

    def heartbeat(self, claim: Claim) -> bool:
        return self._fenced_update(claim, heartbeat_at=now_ms())

    def holds(self, claim: Claim) -> bool:
        with Session(self._engine) as session:
            return session.execute(select(RunQueueRow.run_id).where(*_held(claim))).first() is not None

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
            _bounded(session)
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

    def update_run(self, claim: Claim, doc: dict[str, Any], if_etag: str) -> Stored | None:
        with writing(self._engine), Session(self._engine) as session, session.begin():
            _bounded(session)
            # lock the claim's queue row (PostgreSQL; SQLite has one writer anyway): no takeover, finish or
            # cancel can commit between this check and the document's update
            if session.execute(select(RunQueueRow.run_id).where(*_held(claim)).with_for_update()).first() is None:
                return None
            row = session.execute(
                select(ResourceRow.etag, ResourceRow.created_at, ResourceRow.seq).where(
                    ResourceRow.kind == "runs",
                    ResourceRow.id == claim.run_id,
                    ResourceRow.org == claim.org,
                    ResourceRow.sandbox == claim.sandbox,
                )
            ).first()
            if row is None or row.etag != if_etag:
                raise PreconditionFailed(f"The run {claim.run_id} changed meanwhile; read it again.")
            stamp, etag = now_ms(), new_etag()
            doc = {
                **doc,
                "id": claim.run_id,
                "createdAt": row.created_at,
                "updatedAt": stamp,
                "etag": etag,
                "version": etag,
            }
            result = session.execute(
                update(ResourceRow)
                .where(ResourceRow.kind == "runs", ResourceRow.id == claim.run_id, ResourceRow.seq == row.seq)
                .values(doc=orjson.dumps(doc).decode(), etag=etag, updated_at=stamp, seq=row.seq + 1)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise PreconditionFailed(f"The run {claim.run_id} changed meanwhile; read it again.")
            return Stored("runs", claim.run_id, doc, {}, etag)

    def _fenced_update(self, claim: Claim, **values: Any) -> bool:
        with writing(self._engine), Session(self._engine) as session, session.begin():
            _bounded(session)
            result = session.execute(update(RunQueueRow).where(*_held(claim)).values(**values))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def all_of_kind(self, kind: str) -> list[tuple[Tenant, Stored]]:
        with Session(self._engine) as session:
            rows = session.execute(select(ResourceRow).where(ResourceRow.kind == kind)).scalars()
            return [(Tenant(r.org, r.sandbox), Stored(r.kind, r.id, orjson.loads(r.doc), {}, r.etag)) for r in rows]

    def add_errors(self, run_id: str, errors: list[tuple[str, str, str]], limit: int) -> None:
        with writing(self._engine), Session(self._engine) as session, session.begin():
            count = (
                session.execute(
                    select(func.count()).select_from(RunErrorRow).where(RunErrorRow.run_id == run_id)
                ).scalar()
                or 0
            )
            for seq, (code, message, record) in enumerate(errors[: max(0, limit - count)], start=count):
                session.add(RunErrorRow(run_id=run_id, seq=seq, code=code, message=message, record=record))

    def errors(self, run_id: str, start: int, limit: int) -> list[dict[str, Any]]:
        with Session(self._engine) as session:
            rows = session.execute(
                select(RunErrorRow)
                .where(RunErrorRow.run_id == run_id)
                .order_by(RunErrorRow.seq)
                .offset(start)
                .limit(limit)
            ).scalars()
            return [{"code": r.code, "message": r.message, "record": orjson.loads(r.record)} for r in rows]


def _bounded(session: Session) -> None:
    """On PostgreSQL, end this transaction if its client stops talking mid-way (a worker frozen by the OS, a
    paused VM): otherwise the queue row it locked would stall every other worker until it wakes."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}"))


def _held(claim: Claim) -> tuple[Any, ...]:
    """The fence: the run is running, and held by this very claim (worker and attempt)."""
    return (
        RunQueueRow.run_id == claim.run_id,
        RunQueueRow.status == "running",
        RunQueueRow.claimed_by == claim.worker,
        RunQueueRow.attempt == claim.attempt,
    )
