"""Run documents written under the claim that holds the run: the claim's queue row is checked and locked in
the same transaction as the document's compare-and-swap, so a worker presumed dead writes nothing."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from flowservice.domain.clock import now_ms
from flowservice.domain.errors import PreconditionFailed
from flowservice.ports import Claim, Stored
from flowservice.store.db import writing
from flowservice.store.queue import bounded, held
from flowservice.store.resources import new_etag
from flowservice.store.tables import ResourceRow, RunQueueRow


class SqlRunDocuments:
    """The ``RunDocuments`` port."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def update_run(self, claim: Claim, doc: dict[str, Any], if_etag: str) -> Stored | None:
        with writing(self._engine), Session(self._engine) as session, session.begin():
            bounded(session)
            # lock the claim's queue row (PostgreSQL; SQLite has one writer anyway): no takeover, finish or
            # cancel can commit between this check and the document's update
            if session.execute(select(RunQueueRow.run_id).where(*held(claim)).with_for_update()).first() is None:
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
