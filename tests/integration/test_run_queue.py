"""The run queue on SQLite and PostgreSQL: one running run per flow, stale claims taken over, windows fired
once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from flowservice.domain.tenancy import Tenant
from flowservice.store.db import make_engine, migrate
from flowservice.store.queue import SqlRunQueue
from tests.fixtures.server import postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlRunQueue]:
    url = postgres_url() if request.param == "postgres" else f"sqlite:///{tmp_path / 'q.db'}"
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as conn:  # the PostgreSQL database outlives test sessions: start from an empty queue
        for table in ("run_queue", "fired_windows", "run_errors"):
            conn.execute(text(f"DELETE FROM {table}"))
    yield SqlRunQueue(engine)
    engine.dispose()


def add(queue: SqlRunQueue, flow: str, window: tuple[int, int] | None = None) -> tuple[str, bool]:
    run_id = str(uuid.uuid4())
    created = queue.create_run("runs", Tenant("ORG", "prod"), run_id, flow, {"flowId": flow}, window)
    return run_id, created


def test_a_flow_runs_one_run_at_a_time_in_creation_order(queue: SqlRunQueue) -> None:
    flow = str(uuid.uuid4())
    first, _ = add(queue, flow)
    second, _ = add(queue, flow)
    claim = queue.claim("w1", 60)
    assert claim is not None and claim.run_id == first
    assert queue.claim("w2", 60) is None or queue.claim("w2", 60).flow_id != flow  # type: ignore[union-attr]
    queue.finish(first)
    again = queue.claim("w2", 60)
    assert again is not None and again.run_id == second


def test_a_silent_workers_run_is_taken_over_and_the_old_worker_learns_it(queue: SqlRunQueue) -> None:
    flow = str(uuid.uuid4())
    run_id, _ = add(queue, flow)
    assert queue.claim("dead", 0.5) is not None
    time.sleep(0.7)
    taken = queue.claim("alive", 0.5)
    assert taken is not None and taken.run_id == run_id and taken.attempt == 2
    assert queue.heartbeat(run_id, "dead") is False
    assert queue.heartbeat(run_id, "alive") is True


def test_a_schedule_window_fires_once(queue: SqlRunQueue) -> None:
    flow = str(uuid.uuid4())
    _, created = add(queue, flow, (100, 200))
    _, again = add(queue, flow, (100, 200))
    assert created is True and again is False
    assert queue.last_window_end(flow) == 200


def test_row_errors_are_capped_per_run(queue: SqlRunQueue) -> None:
    run_id = str(uuid.uuid4())
    queue.add_errors(run_id, [("E", f"m{i}", "{}") for i in range(8)], limit=5)
    queue.add_errors(run_id, [("E", "late", "{}")], limit=5)
    errors = queue.errors(run_id, 0, 100)
    assert [e["message"] for e in errors] == ["m0", "m1", "m2", "m3", "m4"]
