"""The run queue on the metadata database: claims are single UPDATE statements guarded by status, and a
partial unique index allows one running run per flow, so any number of worker processes can share it."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from flowservice.domain.tenancy import Tenant
from flowservice.services.ports import Claim, Stored
from flowservice.store.db import writing
from flowservice.store.resources import new_etag, now_ms
from flowservice.store.tables import FiredWindowRow, ResourceRow, RunErrorRow, RunQueueRow


class SqlRunQueue:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create_run(
        self, kind: str, tenant: Tenant, run_id: str, flow_id: str, doc: dict[str, Any],
        window: tuple[int, int] | None,
    ) -> bool:
        stamp = now_ms()
        etag = new_etag()
        doc = {**doc, "id": run_id, "createdAt": stamp, "updatedAt": stamp, "etag": etag, "version": etag}
        try:
            with writing(self._engine), Session(self._engine) as session, session.begin():
                if window is not None:
                    session.add(FiredWindowRow(flow_id=flow_id, window_start=window[0], window_end=window[1],
                                               run_id=run_id))
                    session.flush()
                session.add(ResourceRow(kind=kind, id=run_id, org=tenant.org, sandbox=tenant.sandbox,
                                        doc=orjson.dumps(doc).decode(), secrets=None, etag=etag, created_at=stamp,
                                        updated_at=stamp, seq=0))
                session.add(RunQueueRow(run_id=run_id, flow_id=flow_id, org=tenant.org, sandbox=tenant.sandbox,
                                        status="queued", attempt=0, claimed_by=None, heartbeat_at=0,
                                        created_at=stamp))
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
        other = aliased(RunQueueRow)
        with Session(self._engine) as session:
            # a stalled run first: its worker died, it resumes from its last commit
            candidates = session.execute(
                select(RunQueueRow.run_id, RunQueueRow.status)
                .where(or_(
                    and_(RunQueueRow.status == "running", RunQueueRow.heartbeat_at < stale_before),
                    and_(RunQueueRow.status == "queued",
                         ~exists().where(other.flow_id == RunQueueRow.flow_id, other.status == "running")),
                ))
                .order_by(RunQueueRow.status.desc(), RunQueueRow.created_at)
                .limit(8)
            ).all()
        for run_id, status in candidates:
            guard = (RunQueueRow.heartbeat_at < stale_before) if status == "running" else (
                RunQueueRow.status == "queued")
            try:
                with writing(self._engine), Session(self._engine) as session, session.begin():
                    result = session.execute(
                        update(RunQueueRow)
                        .where(RunQueueRow.run_id == run_id, guard)
                        .values(status="running", claimed_by=worker_id, heartbeat_at=now,
                                attempt=RunQueueRow.attempt + 1)
                    )
                    if result.rowcount != 1:  # type: ignore[attr-defined]
                        continue
                    row = session.get(RunQueueRow, run_id)
                    assert row is not None
                    return Claim(row.run_id, row.flow_id, row.org, row.sandbox, row.attempt)
            except IntegrityError:
                continue  # another run of this flow started meanwhile
        return None

    def heartbeat(self, run_id: str, worker_id: str) -> bool:
        with writing(self._engine), Session(self._engine) as session, session.begin():
            result = session.execute(
                update(RunQueueRow)
                .where(RunQueueRow.run_id == run_id, RunQueueRow.claimed_by == worker_id,
                       RunQueueRow.status == "running")
                .values(heartbeat_at=now_ms())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def finish(self, run_id: str) -> None:
        with writing(self._engine), Session(self._engine) as session, session.begin():
            session.execute(update(RunQueueRow).where(RunQueueRow.run_id == run_id).values(status="done"))

    def requeue(self, run_id: str) -> None:
        with writing(self._engine), Session(self._engine) as session, session.begin():
            session.execute(
                update(RunQueueRow).where(RunQueueRow.run_id == run_id)
                .values(status="queued", claimed_by=None, heartbeat_at=0, created_at=now_ms())
            )

    def queued_flows(self) -> set[str]:
        with Session(self._engine) as session:
            return set(session.execute(
                select(RunQueueRow.flow_id).where(RunQueueRow.status.in_(("queued", "running")))
            ).scalars())

    def all_of_kind(self, kind: str) -> list[tuple[Tenant, Stored]]:
        with Session(self._engine) as session:
            rows = session.execute(select(ResourceRow).where(ResourceRow.kind == kind)).scalars()
            return [(Tenant(r.org, r.sandbox), Stored(r.kind, r.id, orjson.loads(r.doc), {}, r.etag)) for r in rows]

    def add_errors(self, run_id: str, errors: list[tuple[str, str, str]], limit: int) -> None:
        with writing(self._engine), Session(self._engine) as session, session.begin():
            count = session.execute(
                select(func.count()).select_from(RunErrorRow).where(RunErrorRow.run_id == run_id)
            ).scalar() or 0
            for seq, (code, message, record) in enumerate(errors[: max(0, limit - count)], start=count):
                session.add(RunErrorRow(run_id=run_id, seq=seq, code=code, message=message, record=record))

    def errors(self, run_id: str, start: int, limit: int) -> list[dict[str, Any]]:
        with Session(self._engine) as session:
            rows = session.execute(
                select(RunErrorRow).where(RunErrorRow.run_id == run_id).order_by(RunErrorRow.seq)
                .offset(start).limit(limit)
            ).scalars()
            return [{"code": r.code, "message": r.message, "record": orjson.loads(r.record)} for r in rows]


