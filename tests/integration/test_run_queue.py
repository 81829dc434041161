"""The run queue on SQLite and PostgreSQL: one running run per flow, stale claims taken over, windows fired
once; and the run roles that share its tables (documents under the claim, schedules, row errors)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import text

from flowservice.domain.clock import now_ms
from flowservice.domain.errors import PreconditionFailed
from flowservice.domain.tenancy import Tenant
from flowservice.ports import Claim
from flowservice.store.db import make_engine, migrate
from flowservice.store.queue import SqlRunQueue
from flowservice.store.run_documents import SqlRunDocuments
from flowservice.store.run_errors import SqlRunErrors
from flowservice.store.schedules import SqlSchedules
from flowservice.worker import Worker
from tests.fixtures.server import postgres_url


class RunTables(SqlRunQueue, SqlRunDocuments, SqlSchedules, SqlRunErrors):
    """Every run role over the one set of tables, as one object for these tests."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunTables]:
    url = postgres_url() if request.param == "postgres" else f"sqlite:///{tmp_path / 'q.db'}"
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as conn:  # the PostgreSQL database outlives test sessions: start from an empty queue
        for table in ("run_queue", "fired_windows", "run_errors"):
            conn.execute(text(f"DELETE FROM {table}"))
    yield RunTables(engine)
    engine.dispose()


def add(queue: RunTables, flow: str, window: tuple[int, int] | None = None) -> tuple[str, bool]:
    run_id = str(uuid.uuid4())
    created = queue.enqueue("runs", Tenant("ORG", "prod"), run_id, flow, {"flowId": flow}, window)
    return run_id, created


def test_a_flow_runs_one_run_at_a_time_in_creation_order(queue: RunTables) -> None:
    flow = str(uuid.uuid4())
    first, _ = add(queue, flow)
    second, _ = add(queue, flow)
    claim = queue.claim("w1", 60)
    assert claim is not None and claim.run_id == first
    assert queue.claim("w2", 60) is None or queue.claim("w2", 60).flow_id != flow  # type: ignore[union-attr]
    queue.finish(claim)
    again = queue.claim("w2", 60)
    assert again is not None and again.run_id == second


def test_a_silent_workers_run_is_taken_over_and_the_old_worker_learns_it(queue: RunTables) -> None:
    flow = str(uuid.uuid4())
    run_id, _ = add(queue, flow)
    dead = queue.claim("dead", 0.5)
    assert dead is not None
    time.sleep(0.7)
    taken = queue.claim("alive", 0.5)
    assert taken is not None and taken.run_id == run_id and taken.attempt == 2
    assert queue.heartbeat(dead) is False
    assert queue.heartbeat(taken) is True


def test_a_schedule_window_fires_once(queue: RunTables) -> None:
    flow = str(uuid.uuid4())
    _, created = add(queue, flow, (100, 200))
    _, again = add(queue, flow, (100, 200))
    assert created is True and again is False
    assert queue.last_window_end(flow) == 200


def test_row_errors_are_capped_per_run(queue: RunTables) -> None:
    run_id = str(uuid.uuid4())
    queue.add_errors(run_id, [("E", f"m{i}", "{}") for i in range(8)], limit=5)
    queue.add_errors(run_id, [("E", "late", "{}")], limit=5)
    errors = queue.errors(run_id, 0, 100)
    assert [e["message"] for e in errors] == ["m0", "m1", "m2", "m3", "m4"]


def test_a_run_that_finished_between_the_claims_select_and_update_is_not_claimed_again(
    queue: RunTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = str(uuid.uuid4())
    run_id, _ = add(queue, flow)
    first = queue.claim("slow", 0.2)
    assert first is not None
    time.sleep(0.3)  # its heartbeat is now older than stale_after
    seen = queue._candidates(now_ms() - 200)  # what another worker's SELECT saw
    assert [(c.run_id, c.status) for c in seen] == [(run_id, "running")]
    assert queue.finish(first)  # the run ends before that worker's UPDATE
    monkeypatch.setattr(queue, "_candidates", lambda stale_before: seen)

    assert queue.claim("other", 0.2) is None
    assert status(queue, run_id) == "done"


def test_a_stale_claim_can_neither_renew_finish_nor_release_the_run(queue: RunTables) -> None:
    run_id, _ = add(queue, str(uuid.uuid4()))
    old = queue.claim("frozen", 0.2)
    assert old is not None
    time.sleep(0.3)
    new = queue.claim("successor", 0.2)
    assert new is not None and new.attempt == old.attempt + 1

    assert not queue.holds(old) and queue.holds(new)
    assert queue.heartbeat(old) is False
    assert queue.finish(old) is False
    assert queue.release(old) is False
    assert status(queue, run_id) == "running" and queue.holds(new)
    assert queue.finish(new) is True and status(queue, run_id) == "done"


def test_the_same_worker_holding_an_older_attempt_is_fenced_too(queue: RunTables) -> None:
    add(queue, str(uuid.uuid4()))
    old = queue.claim("w", 0.2)
    assert old is not None
    time.sleep(0.3)
    new = queue.claim("w", 0.2)  # the same worker name took it again (a restarted process)
    assert new is not None
    assert queue.finish(old) is False and queue.holds(new)


def test_a_run_document_update_is_refused_once_the_claim_is_lost(queue: RunTables) -> None:
    run_id, _ = add(queue, str(uuid.uuid4()))
    old = queue.claim("frozen", 0.2)
    assert old is not None
    etag = document(queue, run_id)["etag"]
    updated = queue.update_run(old, {"flowId": "x", "state": "inProgress"}, etag)
    assert updated is not None and document(queue, run_id)["state"] == "inProgress"
    time.sleep(0.3)
    new = queue.claim("successor", 0.2)
    assert new is not None

    assert queue.update_run(old, {"flowId": "x", "state": "success"}, updated.etag) is None
    assert document(queue, run_id)["state"] == "inProgress"
    with pytest.raises(PreconditionFailed):
        queue.update_run(new, {"flowId": "x", "state": "success"}, etag)  # an old etag: read again
    assert queue.update_run(new, {"flowId": "x", "state": "success"}, updated.etag) is not None
    assert document(queue, run_id)["state"] == "success"


def test_cancelling_a_flow_ends_its_queued_and_running_runs_and_fences_the_running_one(queue: RunTables) -> None:
    flow = str(uuid.uuid4())
    running, _ = add(queue, flow)
    queued, _ = add(queue, flow)
    other, _ = add(queue, str(uuid.uuid4()))
    claim = queue.claim("w", 60)
    assert claim is not None and claim.run_id == running

    assert sorted(queue.cancel_flow(flow)) == sorted([running, queued])
    assert status(queue, running) == status(queue, queued) == "cancelled"
    assert status(queue, other) == "queued"
    assert not queue.holds(claim) and queue.heartbeat(claim) is False and queue.finish(claim) is False
    taken = queue.claim("w2", 60)
    assert taken is not None and taken.run_id == other  # nothing of the cancelled flow is claimed


def add_reading(queue: RunTables, connection_id: str) -> str:
    run_id = str(uuid.uuid4())
    queue.enqueue("runs", Tenant("ORG", "prod"), run_id, str(uuid.uuid4()), {}, None, connection_id)
    return run_id


def test_the_readers_of_a_connection_are_the_distinct_worker_processes_running_its_runs_with_fresh_heartbeats(
    queue: RunTables,
) -> None:
    add_reading(queue, "conn-b")
    for _ in range(4):
        add_reading(queue, "conn-a")
    other = queue.claim("hostD:400:t1", 60)  # the oldest run: conn-b's
    mine = queue.claim("hostA:100:t1", 60)
    assert other is not None and mine is not None
    assert queue.connection_readers(mine, 60) == ("conn-a", 1), "alone: another connection's reader is not counted"
    assert queue.claim("hostA:100:t2", 60) is not None  # another thread of the same process
    assert queue.claim("hostB:200:t1/7", 60) is not None  # a dispatcher's job in another process
    assert queue.connection_readers(mine, 60) == ("conn-a", 2)
    silent = queue.claim("hostC:300:t1", 60)
    assert silent is not None
    assert queue.connection_readers(mine, 60) == ("conn-a", 3)
    with queue._engine.begin() as conn:  # its worker stopped heart-beating a minute ago
        stamp = {"t": now_ms() - 61_000, "r": silent.run_id}
        conn.execute(text("UPDATE run_queue SET heartbeat_at = :t WHERE run_id = :r"), stamp)
    assert queue.connection_readers(mine, 60) == ("conn-a", 2), "a worker presumed dead reads nothing"
    assert queue.connection_readers(other, 60) == ("conn-b", 1)


def test_a_run_of_an_unknown_connection_has_no_readers_to_share_with(queue: RunTables) -> None:
    add(queue, str(uuid.uuid4()))
    claim = queue.claim("hostA:100:t1", 60)
    assert claim is not None and queue.connection_readers(claim, 60) == ("", 1)


def test_the_heartbeat_tells_the_sources_how_many_processes_read_the_runs_connection(queue: RunTables) -> None:
    add_reading(queue, "conn-a")
    add_reading(queue, "conn-a")
    elsewhere = queue.claim("hostB:200:t1", 60)
    assert elsewhere is not None
    told: list[tuple[str, int]] = []

    class Engine:
        def execute(self, claim: Claim, still_ours: Callable[[], bool]) -> str:
            deadline = time.monotonic() + 10
            while len(told) < 2 and time.monotonic() < deadline:  # the first beat, then one renewal
                time.sleep(0.01)
            return "success"

    worker = Worker(Engine(), queue, stale_after=0.3, name="hostA:100:t1", share=lambda c, n: told.append((c, n)))
    mine = queue.claim(worker.id, 0.3)
    assert mine is not None
    worker.execute(mine)
    assert told[:2] == [("conn-a", 2), ("conn-a", 2)]


def status(queue: RunTables, run_id: str) -> str:
    with queue._engine.connect() as conn:
        return str(conn.execute(text("SELECT status FROM run_queue WHERE run_id = :r"), {"r": run_id}).scalar())


def document(queue: RunTables, run_id: str) -> dict:
    with queue._engine.connect() as conn:
        doc = conn.execute(
            text("SELECT doc FROM resources WHERE kind = 'runs' AND id = :r"), {"r": run_id}
        ).scalar_one()
    return dict(orjson.loads(doc))
