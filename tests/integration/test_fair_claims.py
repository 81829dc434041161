"""Fair claims and the limits on running runs, on SQLite and PostgreSQL: orgs take turns, an idle org goes
before a busy one, full orgs and connections are skipped, and workers claiming at once never pass a limit."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from flowservice.domain.tenancy import Tenant
from flowservice.ports import Claim
from flowservice.store.db import alembic_config, make_engine, migrate
from flowservice.store.fair_claims import Limits
from flowservice.store.queue import SqlRunQueue
from tests.fixtures.server import postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = postgres_url() if request.param == "postgres" else f"sqlite:///{tmp_path / 'q.db'}"
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()


def add(queue: SqlRunQueue, org: str, flow: str | None = None, connection: str = "") -> str:
    run_id = str(uuid.uuid4())
    flow = flow or str(uuid.uuid4())
    assert queue.enqueue("runs", Tenant(org, "prod"), run_id, flow, {"flowId": flow}, None, connection_id=connection)
    return run_id


def claim(queue: SqlRunQueue, worker: str = "w") -> Claim:
    taken = queue.claim(worker, 60)
    assert taken is not None
    return taken


def claim_and_finish(queue: SqlRunQueue) -> str:
    taken = claim(queue)
    assert queue.finish(taken)
    return taken.run_id


@pytest.fixture
def same_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue's clock stands still: every run is queued in one millisecond, as in a burst of ``POST /runs``
    or a scheduler tick that fires many flows."""
    monkeypatch.setattr("flowservice.store.queue.now_ms", lambda: 1_700_000_000_000)


def test_runs_queued_in_the_same_millisecond_are_claimed_in_the_order_they_came(
    engine: Engine, same_millisecond: None
) -> None:
    queue = SqlRunQueue(engine)
    burst = [add(queue, "A") for _ in range(8)]
    assert [claim_and_finish(queue) for _ in burst] == burst


@pytest.mark.parametrize("how", ["released", "re-triggered"])
def test_a_run_queued_again_goes_behind_the_runs_queued_before_it_in_the_same_millisecond(
    engine: Engine, same_millisecond: None, how: str
) -> None:
    queue = SqlRunQueue(engine)
    first, *others = [add(queue, "A") for _ in range(4)]
    taken = claim(queue)
    assert taken.run_id == first
    if how == "released":
        assert queue.release(taken)
    else:
        assert queue.finish(taken)
        queue.requeue(first)
    assert [claim_and_finish(queue) for _ in range(4)] == [*others, first]


def test_with_one_worker_the_orgs_take_turns_whatever_their_backlog(engine: Engine) -> None:
    queue = SqlRunQueue(engine)
    backlog = [add(queue, "A") for _ in range(5)]
    late = add(queue, "B")
    order = []
    for _ in range(4):
        taken = claim(queue)
        order.append(taken.run_id)
        assert queue.finish(taken)
    # A's oldest run first (neither org was served yet), then B's, though A's four others are older
    assert order == [backlog[0], late, backlog[1], backlog[2]]


def test_an_org_with_no_running_run_goes_before_a_busy_orgs_older_runs(engine: Engine) -> None:
    queue = SqlRunQueue(engine)
    for _ in range(4):
        add(queue, "A")
    busy = claim(queue, "w1")
    assert busy.org == "A"
    late = add(queue, "B")
    assert claim(queue, "w2").run_id == late
    assert claim(queue, "w3").org == "A"


def test_within_an_org_the_connection_with_fewer_running_runs_goes_first(engine: Engine) -> None:
    queue = SqlRunQueue(engine)
    for _ in range(3):
        add(queue, "A", connection="c1")
    quiet = add(queue, "A", connection="c2")
    assert claim(queue, "w1").run_id != quiet
    assert claim(queue, "w2").run_id == quiet


def test_an_org_at_its_limit_is_skipped_and_others_still_run(engine: Engine) -> None:
    queue = SqlRunQueue(engine, Limits(per_org=2))
    for _ in range(4):
        add(queue, "A")
    first, second = claim(queue, "w1"), claim(queue, "w2")
    assert first.org == second.org == "A"
    assert queue.claim("w3", 60) is None  # A holds its two; nobody else waits
    other = add(queue, "B")
    assert claim(queue, "w3").run_id == other
    assert queue.finish(first)
    assert claim(queue, "w4").org == "A"  # a slot of A came free
    assert queue.claim("w5", 60) is None


def test_a_connection_at_its_limit_is_skipped_and_its_orgs_other_connections_still_run(engine: Engine) -> None:
    queue = SqlRunQueue(engine, Limits(per_connection=1))
    add(queue, "A", connection="c1")
    add(queue, "A", connection="c1")
    taken = claim(queue, "w1")
    assert queue.claim("w2", 60) is None
    elsewhere = add(queue, "A", connection="c2")
    assert claim(queue, "w2").run_id == elsewhere
    assert queue.finish(taken)
    assert claim(queue, "w3").run_id not in (taken.run_id, elsewhere)


def test_a_stalled_run_is_taken_over_even_when_its_org_is_at_its_limit(engine: Engine) -> None:
    queue = SqlRunQueue(engine, Limits(per_org=1))
    stalled = add(queue, "A")
    add(queue, "A")
    dead = queue.claim("dead", 60)
    assert dead is not None and dead.run_id == stalled
    with engine.begin() as conn:  # its worker went silent long ago
        conn.execute(text("UPDATE run_queue SET heartbeat_at = 0 WHERE run_id = :id"), {"id": stalled})
    taken = claim(queue, "alive")
    assert taken.run_id == stalled and taken.attempt == dead.attempt + 1
    assert queue.claim("third", 60) is None


@pytest.fixture
def slow_commits() -> Iterator[None]:
    """Every transaction waits a moment before it commits: claims that overlap then really overlap, as they do
    on a loaded server (without the org's lock, each claim's count misses the others' uncommitted runs)."""

    def pause(session: Session) -> None:
        time.sleep(0.05)

    event.listen(Session, "before_commit", pause)
    yield
    event.remove(Session, "before_commit", pause)


def claim_at_once(engine: Engine, limits: Limits, workers: int) -> list[Claim]:
    """``workers`` claims released together; each worker's SELECT saw the runs in another order (as when they
    ran at different moments), so the claims aim at different rows and only the limit's own check can keep
    them apart."""
    seen = SqlRunQueue(engine, limits)._candidates(0)
    start = threading.Barrier(workers)
    claims: list[Claim | None] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        mine = SqlRunQueue(engine, limits)
        rotated = seen[index:] + seen[:index]
        mine._candidates = lambda stale_before: rotated  # type: ignore[method-assign]
        start.wait()
        taken = mine.claim(f"w{index}", 60)
        with lock:
            claims.append(taken)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [c for c in claims if c is not None]


@pytest.mark.parametrize("limits", [Limits(per_org=2), Limits(per_connection=2)], ids=["per-org", "per-connection"])
def test_workers_claiming_at_the_same_moment_never_pass_the_limit(
    engine: Engine, limits: Limits, slow_commits: None
) -> None:
    queue = SqlRunQueue(engine, limits)
    for _ in range(3):  # rounds: each starts from a queue with room for two
        for _ in range(6):
            add(queue, "A", connection="c1")
        held = claim_at_once(engine, limits, 6)
        assert len(held) == 2, held
        for taken in held:
            assert queue.finish(taken)
        with engine.begin() as conn:  # the next round starts empty
            conn.execute(text("UPDATE run_queue SET status = 'cancelled' WHERE status = 'queued'"))


def test_runs_queued_before_migration_0005_get_their_base_connection(engine: Engine) -> None:
    config = alembic_config(engine)
    command.downgrade(config, "0004")
    docs = {
        ("flows", "flow-1"): {"sourceConnectionIds": ["source-1"]},
        ("sourceConnections", "source-1"): {"baseConnectionId": "base-1"},
    }
    with engine.begin() as conn:
        for (kind, id), doc in docs.items():
            conn.execute(
                text(
                    "INSERT INTO resources (kind, id, org, sandbox, doc, etag, created_at, updated_at, seq) "
                    "VALUES (:kind, :id, 'A', 'prod', :doc, 'e', 0, 0, 0)"
                ),
                {"kind": kind, "id": id, "doc": json.dumps(doc)},
            )
        for run_id, flow, status in [("queued", "flow-1", "queued"), ("gone", "flow-0", "queued")]:
            conn.execute(
                text(
                    "INSERT INTO run_queue (run_id, flow_id, org, sandbox, status, attempt, heartbeat_at, created_at) "
                    "VALUES (:run_id, :flow, 'A', 'prod', :status, 0, 0, 0)"
                ),
                {"run_id": run_id, "flow": flow, "status": status},
            )
    command.upgrade(config, "head")
    with engine.connect() as conn:
        stored: dict[str, str] = dict(conn.execute(text("SELECT run_id, connection_id FROM run_queue")).all())
    assert stored == {"queued": "base-1", "gone": ""}  # a run whose flow is gone has no connection to count


def test_runs_queued_before_migration_0006_keep_their_order_and_new_runs_come_after_them(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    command.downgrade(alembic_config(engine), "0005")
    with engine.begin() as conn:
        for run_id, created_at in [("b", 5), ("a", 5), ("c", 1)]:
            conn.execute(
                text(
                    "INSERT INTO run_queue (run_id, flow_id, org, sandbox, status, attempt, heartbeat_at, created_at) "
                    "VALUES (:run_id, :run_id, 'A', 'prod', 'queued', 0, 0, :created_at)"
                ),
                {"run_id": run_id, "created_at": created_at},
            )
    command.upgrade(alembic_config(engine), "head")
    queue = SqlRunQueue(engine)
    monkeypatch.setattr("flowservice.store.queue.now_ms", lambda: 0)  # a clock behind: only the sequence says "after"
    late = add(queue, "A")
    assert [claim_and_finish(queue) for _ in range(4)] == ["c", "a", "b", late]


CLAIMER = """
import sys, time
from pathlib import Path
from sqlalchemy import event
from sqlalchemy.orm import Session
from flowservice.store.db import make_engine
from flowservice.store.fair_claims import Limits
from flowservice.store.queue import SqlRunQueue

url, index, go, per_org, per_connection = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), *map(int, sys.argv[4:])
queue = SqlRunQueue(make_engine(url), Limits(per_org, per_connection))
seen = queue._candidates(0)
rotated = seen[index:] + seen[:index]  # each process aims at another run first
queue._candidates = lambda stale_before: rotated
event.listen(Session, "before_commit", lambda session: time.sleep(0.05))  # overlapping claims really overlap
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
claim = queue.claim(f"p{index}", 60)
print(claim.run_id if claim else "none", flush=True)
"""


@pytest.mark.parametrize("limits", [Limits(per_org=2), Limits(per_connection=2)], ids=["per-org", "per-connection"])
def test_worker_processes_claiming_at_the_same_moment_never_pass_the_limit(
    engine: Engine, limits: Limits, tmp_path: Path
) -> None:
    queue = SqlRunQueue(engine, limits)
    for _ in range(4):
        add(queue, "A", connection="c1")
    go = tmp_path / "go"
    args = [str(engine.url.render_as_string(hide_password=False)), str(go), str(limits.per_org)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, args[0], str(i), args[1], args[2], str(limits.per_connection)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    go.touch()
    outcomes = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0] * 4, [err[-2000:] for _, err in outcomes]
    claimed = [out.strip() for out, _ in outcomes if out.strip() != "none"]
    assert len(claimed) == 2, outcomes
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM run_queue WHERE status = 'running'")).scalar_one() == 2
