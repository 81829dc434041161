"""Row errors of a run: kept in insertion order up to a limit per run, read back in pages."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from flowservice.store.db import writing
from flowservice.store.tables import RunErrorRow


class SqlRunErrors:
    """The ``RunErrors`` port."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

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
