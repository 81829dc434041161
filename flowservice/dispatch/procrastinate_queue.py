"""Runs dispatched by procrastinate on the metadata database (``FLOWSERVICE_QUEUE=procrastinate``).

The ``run_queue`` table stays the fence (status, ``(claimed_by, attempt)``, checked by every document and lake
write); procrastinate is only the dispatcher. ``ProcrastinateDispatch`` is the store's ``Dispatch``: each write
that makes a run claimable (enqueue, requeue, release) defers a ``run_flow(run_id)`` job on the very connection
of that transaction, through procrastinate's own defer query, so a rollback leaves neither run nor job.

- ``lock`` = the flow: procrastinate starts no job while another job of the same lock is doing, so a flow has
  one active run. Not ``queueing_lock``: it refuses a second *waiting* job, and a flow may hold several queued
  runs (a scheduled window and an on-demand run) that must each run.
- ``priority`` = minus the org's queued runs before this one: jobs are fetched by priority, so an org's single
  run passes another org's backlog (round-robin across orgs, issue 16 item 4). A run resumed while still
  ``running`` in the table (its holder gone) goes first: every other run of its flow waits for it anyway.
- Stalled jobs (their worker's procrastinate heartbeat is older than ``FLOWSERVICE_RUN_STALE_SECONDS``) are not
  retried in place: ``recover_stalled`` fails the old job and defers a new one for its run in one transaction,
  so a worker that wakes up late can end only its own, already failed, job, never the one its successor runs.
"""

from __future__ import annotations

import logging
from typing import Any

from procrastinate import App, PsycopgConnector, SyncPsycopgConnector, sql
from procrastinate.schema import SchemaManager
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from flowservice.domain.clock import now_ms
from flowservice.store.tables import RunQueueRow

log = logging.getLogger("flowservice.dispatch")

RUN_TASK = "flowservice.run_flow"
RUNS_QUEUE = "flowservice_runs"
PERIODIC_QUEUE = "flowservice_periodic"
RESUMED_PRIORITY = 1_000_000  # a run that was running (its flow held in run_queue) resumes before anything else
SCHEMA_LOCK = 0x666C6F77  # pg_advisory_xact_lock key: one process applies procrastinate's schema at a time


def libpq_url(sqlalchemy_url: str) -> str:
    """The database URL as libpq reads it (SQLAlchemy's ``postgresql+psycopg://`` names a driver)."""
    scheme, sep, rest = sqlalchemy_url.partition("://")
    if not sep or not scheme.startswith("postgresql"):
        raise ValueError("FLOWSERVICE_QUEUE=procrastinate needs a PostgreSQL FLOWSERVICE_DATABASE_URL")
    return f"postgresql://{rest}"


def worker_app(database_url: str) -> App:
    """The App a ``flowservice worker`` opens (asynchronous pool); its tasks are added by ``dispatch.tasks``."""
    return App(connector=PsycopgConnector(conninfo=libpq_url(database_url)))


def defer_app(database_url: str) -> App:
    """An App that is never opened: it only defers jobs on connections it is handed (ours, mid-transaction)."""
    return App(connector=SyncPsycopgConnector(conninfo=libpq_url(database_url)))


def ensure_schema(engine: Engine) -> bool:
    """Apply procrastinate's schema unless it is there (idempotent; concurrent start-ups take turns on an
    advisory lock). Returns whether it was applied now."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
            return False
        conn.connection.driver_connection.execute(SchemaManager.get_schema())  # type: ignore[union-attr]
    log.info("applied procrastinate's schema")
    return True


def driver(session: Session) -> Any:
    """The psycopg connection under a session's transaction."""
    return session.connection().connection.driver_connection


class ProcrastinateDispatch:
    """The store's ``Dispatch``: a ``run_flow`` job per claimable run, deferred in the caller's transaction."""

    def __init__(self, app: App) -> None:
        self._app = app

    def defer(self, session: Session, run_id: str, flow_id: str, org: str, *, resumed: bool = False) -> None:
        """``resumed``: the run is still ``running`` in the table (its holder is gone), so every other run of its
        flow would find the flow busy until it ends: its job goes first."""
        if resumed:
            priority = RESUMED_PRIORITY
        else:
            priority = -session.execute(
                select(func.count())
                .select_from(RunQueueRow)
                .where(RunQueueRow.org == org, RunQueueRow.status == "queued", RunQueueRow.run_id != run_id)
            ).scalar_one()
        self._app.configure_task(
            name=RUN_TASK,
            queue=RUNS_QUEUE,
            lock=flow_lock(flow_id),
            priority=int(priority),
            connection=driver(session),
        ).defer(run_id=run_id)

    def recover_stalled(self, engine: Engine, stalled_after: float) -> list[str]:
        """Fail each ``run_flow`` job whose worker stopped heart-beating ``stalled_after`` seconds ago, and
        defer a new job for its run if the run is still queued or running; one transaction per job. Returns
        the run ids handed to new jobs."""
        with Session(engine) as session:
            stalled = self._connector().execute_query_all_with_connection(
                driver(session),
                query=sql.queries["select_stalled_jobs_by_heartbeat"],
                queue=RUNS_QUEUE,
                task_name=RUN_TASK,
                seconds_since_heartbeat=stalled_after,
            )
            session.rollback()
        moved = []
        for job in stalled:
            run_id = str((job["args"] or {}).get("run_id", ""))
            with Session(engine) as session, session.begin():
                failed = session.execute(
                    text(
                        "UPDATE procrastinate_jobs SET status = 'failed', attempts = attempts + 1"
                        " WHERE id = :id AND status = 'doing'"
                    ),
                    {"id": job["id"]},
                ).rowcount  # type: ignore[attr-defined]
                if not failed:
                    continue  # it ended meanwhile
                row = session.get(RunQueueRow, run_id)
                if row is not None and row.status in ("queued", "running"):
                    self.defer(session, run_id, row.flow_id, row.org, resumed=row.status == "running")
                    moved.append(run_id)
            log.warning("job %s of run %s stalled (its worker went silent): a new job takes the run", job["id"], run_id)
        return moved

    def adopt_orphans(self, engine: Engine, stale_after: float) -> list[str]:
        """Defer a job for each run that has none waiting or doing: queued runs, and running runs whose claim
        stopped heart-beating ``stale_after`` seconds ago. Only runs queued before this mode was on (or a job
        deleted by hand) are orphans: a second job for a run is harmless (it waits for the flow's lock, then
        finds the run ended, or fences a holder that is gone)."""
        stale_before = now_ms() - int(stale_after * 1000)
        orphans = text(
            """
            SELECT q.run_id, q.flow_id, q.org, q.status FROM run_queue q
             WHERE (q.status = 'queued' OR (q.status = 'running' AND q.heartbeat_at < :stale))
               AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j
                                WHERE j.task_name = :task AND j.args->>'run_id' = q.run_id
                                  AND j.status IN ('todo', 'doing'))
             ORDER BY q.created_at
             LIMIT 500
            """
        )
        with Session(engine) as session, session.begin():
            rows = session.execute(orphans, {"stale": stale_before, "task": RUN_TASK}).all()
            for run_id, flow_id, org, status in rows:
                self.defer(session, run_id, flow_id, org, resumed=status == "running")
        if rows:
            log.warning("%d run(s) had no job (queued before procrastinate dispatch?): deferred now", len(rows))
        return [row[0] for row in rows]

    def prune_jobs(self, engine: Engine) -> int:
        """Delete ended ``run_flow`` jobs whose run is gone (run retention pruned it): jobs leave with their runs."""
        with engine.begin() as conn:
            return int(
                conn.execute(
                    text(
                        "DELETE FROM procrastinate_jobs j WHERE j.task_name = :task"
                        " AND j.status IN ('succeeded', 'failed', 'cancelled', 'aborted')"
                        " AND NOT EXISTS (SELECT 1 FROM run_queue q WHERE q.run_id = j.args->>'run_id')"
                    ),
                    {"task": RUN_TASK},
                ).rowcount
            )

    def _connector(self) -> Any:
        return self._app.connector.get_sync_connector()


def flow_lock(flow_id: str) -> str:
    return f"flowservice-flow:{flow_id}"


def stuck_jobs(engine: Engine) -> list[dict[str, Any]]:
    """Jobs waiting or doing whose run has ended, and queued or running runs without a waiting or doing job:
    what an operator (and the tests) look at after an incident; empty when dispatch is consistent."""
    query = text(
        """
        SELECT q.run_id, q.status, j.id AS job_id, j.status AS job_status
          FROM run_queue q
          LEFT JOIN procrastinate_jobs j
            ON j.args->>'run_id' = q.run_id AND j.task_name = :task AND j.status IN ('todo', 'doing')
         WHERE (q.status IN ('queued', 'running') AND j.id IS NULL)
            OR (q.status NOT IN ('queued', 'running') AND j.id IS NOT NULL)
        """
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query, {"task": RUN_TASK})]
