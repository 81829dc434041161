"""The fair order of claims and the limits on concurrent runs, for ``store.queue.SqlRunQueue``.

A queued run is worth claiming when its flow has no running run and its org and base connection are under
their limits. Among those, the org with the fewest running runs goes first, then the org served least
recently (``run_shares``), then, within the org, the connection with the fewest running runs and the one
served least recently, then the run queued first. So one org's backlog never holds back another org's run for
longer than it takes a worker to come free, and with one worker the orgs simply take turns.

"Queued first" is ``queued_seq``, the place the database gave the run when it was queued (``store.queue``), not
``created_at``: that is a millisecond of the queuing process's clock, which a burst of runs shares (ties fell to
their random ids) and which processes on different hosts disagree on.

The limits are checked twice: by the candidate query (to skip full orgs cheaply) and inside the guarded
``UPDATE`` that claims (the check that counts). Before that ``UPDATE`` the claim upserts its org's share row;
on PostgreSQL the upsert holds that row's lock until commit, so two workers claiming for one org take turns
and the second one's ``UPDATE`` (a new snapshot under READ COMMITTED) counts the first one's run. A
connection belongs to one org, so the org's lock covers its connections too. SQLite serialises writers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from flowservice.store.tables import RunQueueRow, RunShareRow

CANDIDATES = 8  # runs tried per claim: the next ones are there when another worker took the first meanwhile


@dataclass(frozen=True)
class Limits:
    """Running runs allowed at once per org and per base connection; 0 means no limit."""

    per_org: int = 0
    per_connection: int = 0


@dataclass(frozen=True)
class Candidate:
    run_id: str
    status: str  # "running": a stalled run to take over; "queued": a run to start
    org: str
    connection_id: str


def stalled(session: Session, stale_before: int) -> list[Candidate]:
    """Running runs whose worker went silent: taken over first (they resume from their last commit), whatever
    the limits, which already count them."""
    rows = session.execute(
        select(RunQueueRow.run_id, RunQueueRow.org, RunQueueRow.connection_id)
        .where(RunQueueRow.status == "running", RunQueueRow.heartbeat_at < stale_before)
        .order_by(RunQueueRow.heartbeat_at)
        .limit(CANDIDATES)
    ).all()
    return [Candidate(run_id, "running", org, connection) for run_id, org, connection in rows]


def fair_queued(session: Session, limits: Limits) -> list[Candidate]:
    """Queued runs that may start now, in the fair order (see the module's docstring)."""
    queued = RunQueueRow
    running = aliased(RunQueueRow)
    same_flow = aliased(RunQueueRow)
    by_org = (
        select(running.org.label("org"), func.count().label("n"))
        .where(running.status == "running")
        .group_by(running.org)
        .subquery()
    )
    by_connection = (
        select(running.connection_id.label("connection_id"), func.count().label("n"))
        .where(running.status == "running", running.connection_id != "")
        .group_by(running.connection_id)
        .subquery()
    )
    org_share = aliased(RunShareRow)
    connection_share = aliased(RunShareRow)
    org_running = func.coalesce(by_org.c.n, 0)
    connection_running = func.coalesce(by_connection.c.n, 0)
    conditions: list[ColumnElement[bool]] = [
        queued.status == "queued",
        ~exists().where(same_flow.flow_id == queued.flow_id, same_flow.status == "running"),
    ]
    if limits.per_org > 0:
        conditions.append(org_running < limits.per_org)
    if limits.per_connection > 0:
        conditions.append((queued.connection_id == "") | (connection_running < limits.per_connection))
    rows = session.execute(
        select(queued.run_id, queued.org, queued.connection_id)
        .outerjoin(by_org, by_org.c.org == queued.org)
        .outerjoin(by_connection, by_connection.c.connection_id == queued.connection_id)
        .outerjoin(org_share, and_(org_share.scope == "org", org_share.key == queued.org))
        .outerjoin(
            connection_share, and_(connection_share.scope == "connection", connection_share.key == queued.connection_id)
        )
        .where(*conditions)
        .order_by(
            org_running,
            func.coalesce(org_share.served_at, 0),
            connection_running,
            func.coalesce(connection_share.served_at, 0),
            queued.queued_seq,
        )
        .limit(CANDIDATES)
    ).all()
    return [Candidate(run_id, "queued", org, connection) for run_id, org, connection in rows]


def take_turn(session: Session, org: str, connection_id: str, now: int) -> None:
    """Record that ``org`` (and its connection) is being served now, org first: on PostgreSQL the org's row
    stays locked until this claim commits or rolls back, which is what makes the limits race-safe."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for scope, key in (("org", org), ("connection", connection_id)):
        if not key:
            continue
        statement: Any = insert(RunShareRow).values(scope=scope, key=key, served_at=now)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["scope", "key"], set_={"served_at": statement.excluded.served_at}
            )
        )


def room(limits: Limits, org: str, connection_id: str) -> list[ColumnElement[bool]]:
    """The limits as conditions of the claiming ``UPDATE``: fewer running runs than allowed, counted by the
    statement itself (after ``take_turn`` took the org's lock)."""
    running = aliased(RunQueueRow)

    def count(condition: ColumnElement[bool]) -> Any:
        return select(func.count()).select_from(running).where(running.status == "running", condition).scalar_subquery()

    conditions: list[ColumnElement[bool]] = []
    if limits.per_org > 0:
        conditions.append(count(running.org == org) < limits.per_org)
    if limits.per_connection > 0 and connection_id:
        conditions.append(count(running.connection_id == connection_id) < limits.per_connection)
    return conditions
