"""What the scheduler reads: every flow across tenants, and the last window each flow fired (the fired
windows themselves are recorded by ``SqlRunQueue.enqueue``, in the transaction that queues their run)."""

from __future__ import annotations

import orjson
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from flowservice.domain.tenancy import Tenant
from flowservice.ports import Stored
from flowservice.store.tables import FiredWindowRow, ResourceRow


class SqlSchedules:
    """The ``Schedules`` port."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def all_of_kind(self, kind: str) -> list[tuple[Tenant, Stored]]:
        with Session(self._engine) as session:
            rows = session.execute(select(ResourceRow).where(ResourceRow.kind == kind)).scalars()
            return [(Tenant(r.org, r.sandbox), Stored(r.kind, r.id, orjson.loads(r.doc), {}, r.etag)) for r in rows]

    def last_window_end(self, flow_id: str) -> int | None:
        with Session(self._engine) as session:
            value = session.execute(
                select(func.max(FiredWindowRow.window_end)).where(FiredWindowRow.flow_id == flow_id)
            ).scalar()
            return int(value) if value is not None else None
