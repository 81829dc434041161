"""Fencing: a worker presumed dead that wakes up changes nothing its successor owns, its successor never
builds on a commit it did not make, heartbeats survive transient errors, and deleted flows stop their runs."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from flowservice.ports import Claim, CommitResult
from flowservice.services.engine import RunEngine
from flowservice.worker import Worker
from tests.integration.engine.conftest import Flow, Harness


class Crash(BaseException):
    """A worker process dying on the spot (not an error the engine handles)."""


class HookedLake:
    """The real lake, with hooks before and after each commit (numbered from 1)."""

    def __init__(
        self,
        lake: Any,
        before: Callable[[int, dict[str, Any]], None] | None = None,
        after: Callable[[int, dict[str, Any], CommitResult], None] | None = None,
    ) -> None:
        self.lake, self.before, self.after, self.commits = lake, before, after, 0

    def commit(self, *args: Any, **kwargs: Any) -> CommitResult:
        self.commits += 1
        if self.before:
            self.before(self.commits, kwargs)
        result: CommitResult = self.lake.commit(*args, **kwargs)
        if self.after:
            self.after(self.commits, kwargs, result)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.lake, name)


def engine_with(harness: Harness, lake: Any, commit_every_rows: int) -> RunEngine:
    c = harness.container
    return RunEngine(
        c.runs, c.flows, c.connections, c.catalog, lake, c.queue, commit_every_rows=commit_every_rows, page_size=10
    )


def start_run(harness: Harness, flow: Flow) -> str:
    created = harness.api.post("/runs", json={"flowId": flow.id})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def run_doc(harness: Harness, run_id: str) -> dict[str, Any]:
    return dict(harness.api.get(f"/runs/{run_id}").json()["items"][0])


def in_thread(target: Callable[[], str]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["status"] = target()
        except Crash:
            outcome["status"] = "crashed"

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_a_stale_workers_late_commit_does_not_make_its_successor_skip_rows(harness: Harness, mode: str) -> None:
    """The issue's interleaving: the stale worker commits transaction n while its successor holds the rows of
    a differently cut transaction n; the successor's commit n is then a no-op, and it must not go on past it."""
    table = harness.org.add_table("contact", rows=50)
    flow = harness.flow("contact", mode=mode)
    run_id = start_run(harness, flow)
    queue = harness.container.queue
    stale = queue.claim("stale", 60)
    assert stale is not None
    paused, resume = threading.Event(), threading.Event()
    stray: list[int] = []

    def stale_commits(n: int, _: dict[str, Any]) -> None:
        if n == 2:  # fenced and about to commit, then frozen
            paused.set()
            assert resume.wait(30)
        elif n >= 3:
            stray.append(n)
            raise Crash()

    thread, outcome = in_thread(
        lambda: engine_with(harness, HookedLake(harness.container.lake, stale_commits), 10).execute(stale)
    )
    assert paused.wait(30)
    successor = queue.claim("successor", 0)  # the frozen worker's heartbeat is older than 0 s
    assert successor is not None and successor.run_id == run_id and successor.attempt == stale.attempt + 1

    def successor_commits(n: int, _: dict[str, Any]) -> None:
        if n == 1:  # the stale worker's commit lands just before the successor's first one
            resume.set()
            thread.join(30)

    status = engine_with(harness, HookedLake(harness.container.lake, successor_commits), 25).execute(successor)

    rows = harness.dataset(flow)
    assert sorted(r["contactid"] for r in rows) == sorted(table.rows)  # each row once: none missing, none twice
    assert status == "success"
    assert outcome["status"] == "lost" and stray == []
    run = run_doc(harness, run_id)
    assert run["metrics"]["statusSummary"]["status"] == "success"
    assert run["metrics"]["recordSummary"]["outputRecordCount"] == 50


def test_a_run_resumed_after_its_final_commit_finishes_with_its_counters_without_reading(harness: Harness) -> None:
    harness.org.add_table("account", rows=30)
    flow = harness.flow("account")
    run_id = start_run(harness, flow)
    queue = harness.container.queue
    first = queue.claim("crashes", 60)
    assert first is not None

    def crash_after_final(_: int, kwargs: dict[str, Any], __: CommitResult) -> None:
        if kwargs["cursor"]["final"]:
            raise Crash()  # the final commit landed; the run's end was never recorded

    with pytest.raises(Crash):
        engine_with(harness, HookedLake(harness.container.lake, after=crash_after_final), 25).execute(first)
    served = harness.org.faults.pages_served
    successor = queue.claim("successor", 0)
    assert successor is not None

    assert harness.container.run_engine.execute(successor) == "success"
    assert harness.org.faults.pages_served == served  # nothing read again
    summary = run_doc(harness, run_id)["metrics"]["recordSummary"]
    assert (summary["inputRecordCount"], summary["outputRecordCount"]) == (30, 30)


def test_a_stale_worker_waking_after_its_successor_finished_changes_nothing(harness: Harness) -> None:
    harness.org.add_table("account", rows=30)
    flow = harness.flow("account")
    run_id = start_run(harness, flow)
    queue = harness.container.queue
    stale = queue.claim("stale", 60)
    assert stale is not None
    paused, resume = threading.Event(), threading.Event()

    def freeze_after_first(n: int, _: dict[str, Any], __: CommitResult) -> None:
        if n == 1:
            paused.set()
            assert resume.wait(30)

    thread, outcome = in_thread(
        lambda: engine_with(harness, HookedLake(harness.container.lake, after=freeze_after_first), 10).execute(stale)
    )
    assert paused.wait(30)
    successor = queue.claim("successor", 0)
    assert successor is not None
    assert harness.container.run_engine.execute(successor) == "success"
    finished = run_doc(harness, run_id)
    path = harness.container.catalog.dataset(harness.tenant, flow.dataset_id).doc["lake"]["path"]
    version = harness.container.lake.stats(path)["version"]

    resume.set()
    thread.join(30)

    assert outcome["status"] == "lost"
    assert harness.container.lake.stats(path)["version"] == version  # no commit
    assert run_doc(harness, run_id)["etag"] == finished["etag"]  # no document update
    assert not queue.holds(stale) and not queue.finish(stale)


def test_deleting_a_flow_stops_its_running_run_before_it_writes_again(harness: Harness) -> None:
    harness.org.add_table("account", rows=60)
    flow = harness.flow("account", mode="append")
    doc = harness.api.get(f"/flows/{flow.id}").json()["items"][0]
    run_id = start_run(harness, flow)
    claim = harness.container.queue.claim("w", 60)
    assert claim is not None
    paused, resume = threading.Event(), threading.Event()

    def freeze_after_first(n: int, _: dict[str, Any], __: CommitResult) -> None:
        if n == 1:
            paused.set()
            assert resume.wait(30)

    path = harness.container.catalog.dataset(harness.tenant, flow.dataset_id).doc["lake"]["path"]
    thread, outcome = in_thread(
        lambda: engine_with(harness, HookedLake(harness.container.lake, after=freeze_after_first), 10).execute(claim)
    )
    assert paused.wait(30)
    assert harness.api.delete(f"/flows/{flow.id}").status_code == 204
    assert harness.api.delete(f"/targetConnections/{doc['targetConnectionIds'][0]}").status_code == 204
    assert harness.api.delete(f"/data/foundation/catalog/dataSets/{flow.dataset_id}").status_code in (200, 204)
    resume.set()
    thread.join(30)

    assert outcome["status"] == "lost"
    assert harness.container.lake.stats(path) == {}  # no orphan table re-created by a later commit
    run = run_doc(harness, run_id)
    assert run["metrics"]["statusSummary"]["status"] == "failed"
    assert "was deleted" in run["metrics"]["statusSummary"]["errors"][-1]["message"]


def test_a_dataset_deleted_between_the_fence_check_and_the_commit_is_not_re_created(harness: Harness) -> None:
    harness.org.add_table("account", rows=60)
    flow = harness.flow("account", mode="append")
    doc = harness.api.get(f"/flows/{flow.id}").json()["items"][0]
    run_id = start_run(harness, flow)
    claim = harness.container.queue.claim("w", 60)
    assert claim is not None
    path = harness.container.catalog.dataset(harness.tenant, flow.dataset_id).doc["lake"]["path"]

    def delete_everything(n: int, _: dict[str, Any]) -> None:
        if n == 2:  # the engine's fence passed; then the flow, its target and its dataset go
            assert harness.api.delete(f"/flows/{flow.id}").status_code == 204
            assert harness.api.delete(f"/targetConnections/{doc['targetConnectionIds'][0]}").status_code == 204
            assert harness.api.delete(f"/data/foundation/catalog/dataSets/{flow.dataset_id}").status_code in (200, 204)

    status = engine_with(harness, HookedLake(harness.container.lake, delete_everything), 10).execute(claim)

    assert status == "lost"  # its failure could not even be recorded: the run was cancelled
    assert harness.container.lake.stats(path) == {}
    assert run_doc(harness, run_id)["metrics"]["statusSummary"]["status"] == "failed"


def test_deleting_a_flow_cancels_its_queued_runs(harness: Harness) -> None:
    harness.org.add_table("account", rows=5)
    flow = harness.flow("account")
    run_id = start_run(harness, flow)
    assert harness.api.delete(f"/flows/{flow.id}").status_code == 204

    assert harness.container.worker().run_once() is False  # nothing left to claim
    status = run_doc(harness, run_id)["metrics"]["statusSummary"]
    assert status["status"] == "failed" and flow.id in status["errors"][-1]["message"]


def test_deleting_a_dataset_a_flow_writes_to_is_refused_naming_the_flow(harness: Harness) -> None:
    harness.org.add_table("account", rows=1)
    flow = harness.flow("account")
    response = harness.api.delete(f"/data/foundation/catalog/dataSets/{flow.dataset_id}")
    assert response.status_code == 400
    assert flow.id in response.json()["errorMessage"]


def test_an_unexpected_error_reaches_the_tenant_as_a_generic_message_with_the_run_id(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.org.add_table("account", rows=30)
    flow = harness.flow("account")
    run_id = start_run(harness, flow)
    location = harness.container.lake.location("x")

    def explode(_: int, __: dict[str, Any]) -> None:
        raise RuntimeError(f"boom while writing {location}/part-1.parquet")

    claim = harness.container.queue.claim("w", 60)
    assert claim is not None
    assert engine_with(harness, HookedLake(harness.container.lake, explode), 25).execute(claim) == "failed"

    message = run_doc(harness, run_id)["metrics"]["statusSummary"]["errors"][-1]["message"]
    assert run_id in message
    assert "boom" not in message and location not in message and "parquet" not in message
    assert "boom while writing" in caplog.text  # the details are in the server log


# ---------------------------------------------------------------------------------------------- heartbeat


LOCKED = OperationalError("UPDATE run_queue", {}, sqlite3.OperationalError("database is locked"))
RESET = OperationalError(
    "UPDATE run_queue",
    {},
    psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"),
)


class FlakyQueue:
    """The real queue, whose heartbeats fail ``failures`` times (then always, if ``forever``)."""

    def __init__(self, queue: Any, failures: int, *, forever: bool = False, error: Exception = LOCKED) -> None:
        self.queue, self.failures, self.forever, self.error = queue, failures, forever, error
        self.calls = self.renewals = 0
        self.renewed_after_failures = threading.Event()

    def heartbeat(self, claim: Claim) -> bool:
        self.calls += 1
        if self.forever or self.calls <= self.failures:
            raise self.error
        renewed = bool(self.queue.heartbeat(claim))
        self.renewals += renewed
        if self.renewals >= 3:
            self.renewed_after_failures.set()
        return renewed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.queue, name)


class StubEngine:
    def __init__(self, body: Callable[[Callable[[], bool]], str]) -> None:
        self.body = body

    def execute(self, claim: Claim, still_ours: Callable[[], bool]) -> str:
        return self.body(still_ours)


@pytest.mark.parametrize("error", [LOCKED, RESET], ids=["database-is-locked", "connection-reset"])
def test_the_heartbeat_survives_transient_database_errors(harness: Harness, error: Exception) -> None:
    harness.org.add_table("account", rows=1)
    start_run(harness, harness.flow("account"))
    flaky = FlakyQueue(harness.container.queue, failures=2, error=error)
    seen: list[bool] = []

    def body(still_ours: Callable[[], bool]) -> str:
        assert flaky.renewed_after_failures.wait(20), "the heartbeat stopped after an error"
        seen.append(still_ours())
        return "success"

    worker = Worker(StubEngine(body), flaky, stale_after=0.6)  # type: ignore[arg-type]
    claim = flaky.claim(worker.id, 0.6)
    assert claim is not None
    worker.execute(claim)

    assert flaky.calls > flaky.failures and flaky.renewals >= 3
    assert seen == [True]


def test_a_worker_that_cannot_renew_its_claim_stops_writing_before_another_may_take_over(harness: Harness) -> None:
    harness.org.add_table("account", rows=1)
    start_run(harness, harness.flow("account"))
    down = FlakyQueue(harness.container.queue, failures=0, forever=True)
    now = [0.0]
    stale_after = 0.6
    seen: list[tuple[float, bool]] = []

    def body(still_ours: Callable[[], bool]) -> str:
        for at in (0.0, 0.25, 0.35, 0.59):
            while down.calls < 2:  # the heartbeat keeps trying meanwhile
                threading.Event().wait(0.01)
            now[0] = at
            seen.append((at, still_ours()))
        return "success"

    worker = Worker(StubEngine(body), down, stale_after=stale_after, clock=lambda: now[0])  # type: ignore[arg-type]
    claim = down.claim(worker.id, stale_after)
    assert claim is not None
    worker.execute(claim)

    # another worker may take over at stale_after (0.6); this one counted itself out from half of it
    assert seen == [(0.0, True), (0.25, True), (0.35, False), (0.59, False)]


def test_a_worker_that_stopped_on_a_stale_heartbeat_view_queues_its_still_held_run_again(harness: Harness) -> None:
    harness.org.add_table("account", rows=1)
    run_id = start_run(harness, harness.flow("account"))
    queue = harness.container.queue
    worker = Worker(StubEngine(lambda still_ours: "lost"), queue, stale_after=60)  # type: ignore[arg-type]
    claim = queue.claim(worker.id, 60)
    assert claim is not None
    worker.execute(claim)

    again = queue.claim("next", 60)  # at once, not after 60 s
    assert again is not None and again.run_id == run_id and again.attempt == claim.attempt + 1


def test_a_worker_that_lost_its_run_leaves_the_new_claim_alone(harness: Harness) -> None:
    harness.org.add_table("account", rows=1)
    start_run(harness, harness.flow("account"))
    queue = harness.container.queue
    taken: list[Claim] = []

    def taken_over(still_ours: Callable[[], bool]) -> str:
        newer = queue.claim("successor", 0)
        assert newer is not None
        taken.append(newer)
        return "lost"

    worker = Worker(StubEngine(taken_over), queue, stale_after=60)  # type: ignore[arg-type]
    claim = queue.claim(worker.id, 60)
    assert claim is not None
    worker.execute(claim)
    assert queue.holds(taken[0])
