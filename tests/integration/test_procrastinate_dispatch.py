"""Runs dispatched by procrastinate on a real PostgreSQL (``FLOWSERVICE_QUEUE=procrastinate``): the job and the
run are one transaction, the job's targeted claim fences whoever held the run before, a flow's jobs run one at a
time, orgs take turns, and a stalled job's run goes to a new job. The worker processes: tests/e2e."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from flowservice.dispatch.procrastinate_queue import RUN_TASK, ProcrastinateDispatch, flow_lock, stuck_jobs
from flowservice.domain.tenancy import Tenant
from flowservice.ports import FlowBusy
from flowservice.settings import Settings
from flowservice.store.fair_claims import Limits
from flowservice.store.queue import SqlRunQueue
from flowservice.worker import Worker
from tests.fakes.source import FakeOrg
from tests.fixtures.server import make_api, postgres_url
from tests.integration.engine.conftest import Harness
from tests.integration.engine.test_fencing import HookedLake, engine_with, in_thread, run_doc, start_run

pytestmark = pytest.mark.postgres


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=postgres_url(),
        queue="procrastinate",
        commit_every_rows=25,
        page_size=10,
        run_stale_seconds=2,
    )
    org = FakeOrg()
    api = make_api(settings, sources=org)
    yield Harness(api, org)
    assert api.container is not None
    api.container.close()


def dispatch(harness: Harness) -> ProcrastinateDispatch:
    assert harness.container.dispatch is not None
    return harness.container.dispatch


def jobs(engine: Engine, run_id: str | None = None) -> list[dict[str, Any]]:
    query = "SELECT id, status, lock, priority, args, queue_name FROM procrastinate_jobs WHERE task_name = :task"
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(query + " ORDER BY id"), {"task": RUN_TASK})]
    return [r for r in rows if run_id is None or r["args"]["run_id"] == run_id]


def fetch(engine: Engine, worker_id: int) -> dict[str, Any] | None:
    """What a procrastinate worker would take next (its own fetch function, so its lock and priority rules)."""
    with engine.begin() as conn:
        row = conn.execute(text("SELECT id, args FROM procrastinate_fetch_job_v2(NULL, :w)"), {"w": worker_id}).first()
    return None if row is None or row.id is None else {"id": row.id, "run_id": row.args["run_id"]}


def register_worker(engine: Engine) -> int:
    with engine.begin() as conn:
        return int(conn.execute(text("SELECT worker_id FROM procrastinate_register_worker_v1()")).scalar_one())


class CrashAfterDefer(Exception):
    pass


class DeferThenCrash:
    """The real dispatch, then the process dies before the transaction commits."""

    def __init__(self, real: ProcrastinateDispatch) -> None:
        self.real = real

    def defer(self, session: Session, run_id: str, flow_id: str, org: str) -> None:
        self.real.defer(session, run_id, flow_id, org)
        raise CrashAfterDefer()


def test_a_run_is_queued_with_its_job_in_one_transaction_and_a_rollback_leaves_neither(harness: Harness) -> None:
    engine = harness.container.engine
    tenant = Tenant("ORG", "prod")
    flow_id = str(uuid.uuid4())
    kept = str(uuid.uuid4())
    assert harness.container.queue.enqueue("runs", tenant, kept, flow_id, {"flowId": flow_id}, None)
    [job] = jobs(engine, kept)
    assert job["status"] == "todo" and job["lock"] == flow_lock(flow_id) and job["priority"] == 0

    lost = str(uuid.uuid4())
    crashing = SqlRunQueue(engine, dispatch=DeferThenCrash(dispatch(harness)))
    with pytest.raises(CrashAfterDefer):
        crashing.enqueue("runs", tenant, lost, flow_id, {"flowId": flow_id}, None)
    assert jobs(engine, lost) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM run_queue WHERE run_id = :r"), {"r": lost}).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM resources WHERE id = :r"), {"r": lost}).scalar() == 0
    assert [r["run_id"] for r in stuck_jobs(engine)] == []  # the kept run has its job, and no job lacks its run


def test_a_job_run_twice_by_two_workers_lands_the_run_once(harness: Harness) -> None:
    """The first holder freezes before its second commit; the job runs again elsewhere (a new attempt) and
    finishes; the first one wakes up and is fenced: every row once, the run's counters exact."""
    table = harness.org.add_table("contact", rows=120)
    flow = harness.flow("contact")
    run_id = start_run(harness, flow)
    queue = harness.container.queue
    paused, resume = threading.Event(), threading.Event()

    def freeze_at_second(n: int, _: dict[str, Any]) -> None:
        if n == 2:
            paused.set()
            assert resume.wait(30)

    frozen = engine_with(harness, HookedLake(harness.container.lake, freeze_at_second), 25)
    first = Worker(frozen, queue, stale_after=60)
    thread, outcome = in_thread(lambda: first.run_claimed(run_id, queue, "job1"))
    assert paused.wait(30)
    second = Worker(harness.container.run_engine, queue, stale_after=60)
    assert second.run_claimed(run_id, queue, "job1-retried") == "success"
    resume.set()
    thread.join(30)

    assert outcome["status"] == "lost"
    rows = harness.dataset(flow)
    assert sorted(r["contactid"] for r in rows) == sorted(table.rows)
    run = run_doc(harness, run_id)
    assert run["metrics"]["statusSummary"]["status"] == "success"
    assert run["metrics"]["recordSummary"]["outputRecordCount"] == 120
    assert second.run_claimed(run_id, queue, "job1-again") == "ended"  # a late duplicate of the job is a no-op


def test_a_flows_jobs_run_one_at_a_time_and_a_busy_flow_makes_the_claim_wait(harness: Harness) -> None:
    engine = harness.container.engine
    queue = harness.container.queue
    tenant = Tenant("ORG", "prod")
    flow, other = str(uuid.uuid4()), str(uuid.uuid4())
    runs = [str(uuid.uuid4()) for _ in range(3)]
    for run_id, flow_id in zip(runs, (flow, flow, other), strict=True):
        queue.enqueue("runs", tenant, run_id, flow_id, {"flowId": flow_id}, None)
    worker = register_worker(engine)
    taken = [fetch(engine, worker), fetch(engine, worker), fetch(engine, worker)]
    assert [t["run_id"] if t else None for t in taken] == [runs[0], runs[2], None]  # the flow's second waits

    assert queue.claim_run(runs[0], "w/job") is not None
    with pytest.raises(FlowBusy):  # its table fence agrees: one running run per flow
        queue.claim_run(runs[1], "w/other-job")


def test_an_orgs_single_run_is_fetched_before_another_orgs_backlog_of_a_hundred(harness: Harness) -> None:
    """Fetched right after the backlog's first run: it waits at most one run per worker slot, not a hundred."""
    engine = harness.container.engine
    queue = harness.container.queue
    busy = [str(uuid.uuid4()) for _ in range(100)]
    for run_id in busy:
        flow_id = str(uuid.uuid4())
        queue.enqueue("runs", Tenant("BUSY", "prod"), run_id, flow_id, {"flowId": flow_id}, None)
    single = str(uuid.uuid4())
    flow_id = str(uuid.uuid4())
    queue.enqueue("runs", Tenant("QUIET", "prod"), single, flow_id, {"flowId": flow_id}, None)
    assert [j["priority"] for j in jobs(engine)] == [-n for n in range(100)] + [0]
    worker = register_worker(engine)
    order = [fetch(engine, worker) for _ in range(3)]
    assert [o["run_id"] for o in order if o] == [busy[0], single, busy[1]]


def test_a_stalled_jobs_run_goes_to_a_new_job_first_and_the_old_job_can_no_longer_be_ended(harness: Harness) -> None:
    engine = harness.container.engine
    queue = harness.container.queue
    tenant = Tenant("ORG", "prod")
    flow_id, run_id = str(uuid.uuid4()), str(uuid.uuid4())
    queue.enqueue("runs", tenant, run_id, flow_id, {"flowId": flow_id}, None)
    dead = register_worker(engine)
    job = fetch(engine, dead)
    assert job is not None and queue.claim_run(run_id, "dead/job") is not None
    assert dispatch(harness).recover_stalled(engine, 5) == []  # its worker heart-beat just now
    later = str(uuid.uuid4())  # another run of the flow, queued while the first one holds the flow
    queue.enqueue("runs", tenant, later, flow_id, {"flowId": flow_id}, None)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute' WHERE id = :w"),
            {"w": dead},
        )
    assert dispatch(harness).recover_stalled(engine, 5) == [run_id]
    statuses = [(j["id"], j["status"]) for j in jobs(engine, run_id)]
    assert statuses[0] == (job["id"], "failed") and statuses[1][1] == "todo" and len(statuses) == 2
    new = fetch(engine, register_worker(engine))  # the resumed run first: the later one would find its flow busy
    assert new is not None and new["run_id"] == run_id and new["id"] != job["id"]
    with engine.begin() as conn:  # the stale worker waking up cannot end the job its successor now runs
        ended = conn.execute(
            text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :id AND status = 'doing'"),
            {"id": job["id"]},
        ).rowcount
    assert ended == 0
    assert stuck_jobs(engine) == []


def test_a_released_run_is_deferred_again_in_the_release_transaction(harness: Harness) -> None:
    engine = harness.container.engine
    queue = harness.container.queue
    flow_id, run_id = str(uuid.uuid4()), str(uuid.uuid4())
    queue.enqueue("runs", Tenant("ORG", "prod"), run_id, flow_id, {"flowId": flow_id}, None)
    claim = queue.claim_run(run_id, "w/job")
    assert claim is not None
    assert queue.release(claim)
    assert not queue.release(claim)  # fenced: a second hand-back of the same claim defers nothing
    assert [j["status"] for j in jobs(engine, run_id)] == ["todo", "todo"]


def test_ended_jobs_leave_with_their_runs_and_the_others_stay(harness: Harness) -> None:
    engine = harness.container.engine
    queue = harness.container.queue
    tenant = Tenant("ORG", "prod")
    pruned, kept = str(uuid.uuid4()), str(uuid.uuid4())
    for run_id in (pruned, kept):
        flow_id = str(uuid.uuid4())
        queue.enqueue("runs", tenant, run_id, flow_id, {"flowId": flow_id}, None)
    with engine.begin() as conn:
        conn.execute(text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE task_name = :t"), {"t": RUN_TASK})
        conn.execute(text("DELETE FROM run_queue WHERE run_id = :r"), {"r": pruned})  # what run retention does
    assert dispatch(harness).prune_jobs(engine) == 1
    assert jobs(engine, pruned) == [] and len(jobs(engine, kept)) == 1


def test_a_run_queued_before_the_mode_was_on_is_given_a_job_once(harness: Harness) -> None:
    engine = harness.container.engine
    flow_id, run_id = str(uuid.uuid4()), str(uuid.uuid4())
    SqlRunQueue(engine).enqueue("runs", Tenant("ORG", "prod"), run_id, flow_id, {"flowId": flow_id}, None)
    assert [r["run_id"] for r in stuck_jobs(engine)] == [run_id]
    assert dispatch(harness).adopt_orphans(engine, 5) == [run_id]
    assert dispatch(harness).adopt_orphans(engine, 5) == []
    assert len(jobs(engine, run_id)) == 1 and stuck_jobs(engine) == []


def test_a_re_triggered_run_gets_a_new_job_with_its_requeue(harness: Harness) -> None:
    engine = harness.container.engine
    queue = harness.container.queue
    flow_id, run_id = str(uuid.uuid4()), str(uuid.uuid4())
    queue.enqueue("runs", Tenant("ORG", "prod"), run_id, flow_id, {"flowId": flow_id}, None)
    claim = queue.claim_run(run_id, "w/job")
    assert claim is not None and queue.finish(claim)
    with engine.begin() as conn:  # the first job ended with its run
        conn.execute(text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE task_name = :t"), {"t": RUN_TASK})
    assert stuck_jobs(engine) == []
    queue.requeue(run_id)
    assert [j["status"] for j in jobs(engine, run_id)] == ["succeeded", "todo"]
    assert stuck_jobs(engine) == []


def test_procrastinate_mode_on_sqlite_is_refused_at_start_up(tmp_path: Path) -> None:
    from flowservice.bootstrap import build

    with pytest.raises(ValueError, match="PostgreSQL"):
        build(Settings(data_dir=tmp_path / "data", queue="procrastinate"), sources=FakeOrg())


def test_a_job_over_its_orgs_limit_waits_and_a_takeover_is_never_held_back(harness: Harness) -> None:
    engine = harness.container.engine
    queue = SqlRunQueue(engine, Limits(per_org=1, per_connection=0), dispatch=dispatch(harness))
    tenant = Tenant("LIMITED", "prod")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for run_id in (first, second):
        flow_id = str(uuid.uuid4())
        queue.enqueue("runs", tenant, run_id, flow_id, {"flowId": flow_id}, None)
    held = queue.claim_run(first, "w/job1")
    assert held is not None
    with pytest.raises(FlowBusy):  # the org runs one run at a time: the second job is retried later
        queue.claim_run(second, "w/job2")
    again = queue.claim_run(first, "w/job1-retried")  # the stalled first run resumes whatever the limit
    assert again is not None and again.attempt == held.attempt + 1
    assert queue.finish(again)
    assert queue.claim_run(second, "w/job2-retried") is not None
