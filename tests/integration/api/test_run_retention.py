"""Run history stays bounded: finished runs past their retention go, with their row errors and queue rows; a
queued or running run, and the newest run of each flow, stay. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from typing import Any, cast

import orjson
from sqlalchemy import Table, func, insert, select

from flowservice.store.queue import next_in_line
from flowservice.store.retention import RunRetention
from flowservice.store.tables import ResourceRow, RunErrorRow, RunQueueRow
from flowservice.worker import Runtime
from tests.fixtures.server import Api

DAY = 86_400_000
NOW = 1_000 * DAY
RUNS, QUEUE, ERRORS = (cast(Table, t.__table__) for t in (ResourceRow, RunQueueRow, RunErrorRow))


def _run(api: Api, flow_id: str, *, age_days: float, status: str = "done", errors: int = 0, order: int = 0) -> str:
    """One run of ``flow_id`` last changed ``age_days`` before NOW; ``order`` breaks ties in creation."""
    assert api.container is not None
    run_id = str(uuid.uuid4())
    stamp = NOW - int(age_days * DAY) + order
    doc = {
        "id": run_id,
        "flowId": flow_id,
        "createdAt": stamp,
        "metrics": {
            "durationSummary": {},
            "statusSummary": {"status": "success" if status == "done" else "inProgress"},
        },
    }
    with api.container.engine.begin() as conn:
        conn.execute(
            insert(RUNS),
            {
                "kind": "runs",
                "id": run_id,
                "org": api.org,
                "sandbox": "prod",
                "doc": orjson.dumps(doc).decode(),
                "secrets": None,
                "etag": '"e"',
                "created_at": stamp,
                "updated_at": stamp,
                "seq": 0,
            },
        )
        conn.execute(
            insert(QUEUE).values(queued_seq=next_in_line(conn.dialect)),
            {
                "run_id": run_id,
                "flow_id": flow_id,
                "org": api.org,
                "sandbox": "prod",
                "status": status,
                "attempt": 1,
                "claimed_by": None,
                "heartbeat_at": 0,
                "created_at": stamp,
            },
        )
        if errors:
            conn.execute(
                insert(ERRORS),
                [
                    {"run_id": run_id, "seq": n, "code": "E", "message": "bad row", "record": "{}"}
                    for n in range(errors)
                ],
            )
    return run_id


def _left(api: Api, ids: list[str]) -> dict[str, tuple[bool, bool, int]]:
    """For each run: (document kept, queue row kept, row errors kept)."""
    assert api.container is not None
    with api.container.engine.connect() as conn:
        docs = set(conn.execute(select(RUNS.c.id).where(RUNS.c.kind == "runs", RUNS.c.id.in_(ids))).scalars())
        queued = set(conn.execute(select(QUEUE.c.run_id).where(QUEUE.c.run_id.in_(ids))).scalars())
        errors: dict[str, int] = dict(
            conn.execute(
                select(ERRORS.c.run_id, func.count()).where(ERRORS.c.run_id.in_(ids)).group_by(ERRORS.c.run_id)
            ).all()
        )
    return {i: (i in docs, i in queued, int(errors.get(i, 0))) for i in ids}


def test_old_finished_runs_go_with_their_errors_and_queue_rows_while_active_and_newest_runs_stay(any_api: Api) -> None:
    assert any_api.container is not None
    flow, lonely = str(uuid.uuid4()), str(uuid.uuid4())
    old_failed = _run(any_api, flow, age_days=200, errors=3, order=1)
    old_done = _run(any_api, flow, age_days=100, order=2)
    old_running = _run(any_api, flow, age_days=150, status="running", order=3)
    old_queued = _run(any_api, flow, age_days=120, status="queued", order=4)
    recent = _run(any_api, flow, age_days=10, errors=1, order=5)
    newest = _run(any_api, flow, age_days=1, order=6)
    only_run = _run(any_api, lonely, age_days=400)  # old, but the last run of its flow

    pruned = RunRetention(any_api.container.engine, days=90, per_flow=0).prune(now_ms=NOW)

    ids = [old_failed, old_done, old_running, old_queued, recent, newest, only_run]
    left = _left(any_api, ids)
    assert left[old_failed] == (False, False, 0) and left[old_done] == (False, False, 0)
    assert left[old_running] == (True, True, 0) and left[old_queued] == (True, True, 0)
    assert left[recent] == (True, True, 1) and left[newest] == (True, True, 0)
    assert left[only_run] == (True, True, 0)
    assert pruned >= 2  # PostgreSQL may hold old runs of earlier tests too
    # the API agrees: a pruned run is not found, a kept one is
    assert any_api.get(f"/runs/{old_failed}").status_code == 404
    assert any_api.get(f"/runs/{recent}").status_code == 200


def test_at_most_the_configured_number_of_runs_is_kept_per_flow(any_api: Api) -> None:
    assert any_api.container is not None
    flow, other = str(uuid.uuid4()), str(uuid.uuid4())
    runs = [_run(any_api, flow, age_days=1, order=n) for n in range(12)]
    others = [_run(any_api, other, age_days=1, order=n) for n in range(3)]
    running = _run(any_api, flow, age_days=2, status="running")  # the oldest, but running

    pruned = RunRetention(any_api.container.engine, days=90, per_flow=5, batch=2).prune(now_ms=NOW)

    left = _left(any_api, [*runs, *others, running])
    # five newest are kept; the running run counts among the runs kept but is never pruned
    assert [left[r][0] for r in runs] == [False] * 7 + [True] * 5
    assert all(left[r][0] for r in others) and left[running][0]
    assert pruned >= 7
    listed = any_api.get("/runs", params={"property": f"flowId=={flow}"}).json()["items"]
    assert len(listed) == 6


def test_a_retention_of_zero_keeps_every_run(any_api: Api) -> None:
    assert any_api.container is not None
    flow = str(uuid.uuid4())
    runs = [_run(any_api, flow, age_days=1000, order=n) for n in range(3)]
    assert RunRetention(any_api.container.engine, days=0, per_flow=0).prune(now_ms=NOW) == 0
    assert all(kept[0] for kept in _left(any_api, runs).values())


def test_the_embedded_scheduler_thread_runs_retention(api: Api) -> None:
    assert api.container is not None
    done = threading.Event()
    calls: list[Any] = []

    def task() -> None:
        calls.append(1)
        done.set()

    runtime = Runtime(api.container.scheduler, [], 60.0, housekeeping=[(3600.0, task)])
    with runtime:
        assert done.wait(30)
    assert calls == [1]
