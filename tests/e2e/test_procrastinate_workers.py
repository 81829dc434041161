"""``flowservice worker`` processes on procrastinate (``FLOWSERVICE_QUEUE=procrastinate``) behind an API server
without embedded workers, on a real PostgreSQL and a real emulator: a worker SIGKILLed mid-run has its stalled job
taken by another, a worker stopped by SIGTERM hands its run back, schedules fire from the periodic task, and
every dataset equals its source exactly with no job left stuck."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowservice.demo import ORG
from flowservice.domain.tenancy import Tenant
from tests.e2e.cluster import Cluster, checksum
from tests.e2e.stack import Stack, iso, server_env, source_rows

pytestmark = pytest.mark.postgres


@pytest.fixture
def cluster(start_emulator, database: str, tmp_path: Path) -> Iterator[Cluster]:
    emulator = start_emulator(scale=3000, seed=31, latency=40)
    env = server_env(
        emulator,
        FLOWSERVICE_DATABASE_URL=database,
        FLOWSERVICE_QUEUE="procrastinate",
        FLOWSERVICE_EMBEDDED_WORKERS="false",
        FLOWSERVICE_RUN_STALE_SECONDS="3",
        FLOWSERVICE_PAGE_SIZE="100",
        FLOWSERVICE_COMMIT_EVERY_ROWS="300",
    )
    stack = Stack(emulator, tmp_path / "server", env)
    stack.start()
    cluster = Cluster(stack, database, [], [])
    try:
        yield cluster
    finally:
        for worker in cluster.workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=30)
        stack.stop()


def committed(cluster: Cluster, flow: dict[str, str]) -> bool:
    """Whether the flow's table holds a commit yet (read from the lake, as the workers write it)."""
    from flowservice.bootstrap import build
    from flowservice.settings import Settings

    container = build(Settings(data_dir=cluster.stack.data_dir, database_url=cluster.database))
    try:
        path = container.catalog.dataset(Tenant(ORG, "prod"), flow["dataset"]).doc["lake"]["path"]
        return container.lake.last_commit(path, flow["flow"]) is not None
    finally:
        container.close()


def wait_for_a_commit(cluster: Cluster, flow: dict[str, str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if committed(cluster, flow):
            return
        time.sleep(0.2)
    raise AssertionError("no commit landed within 120 s")


def assert_exact(cluster: Cluster, flow: dict[str, str], entity_set: str, key: str) -> None:
    """The dataset holds each source row once, at its source version (append mode: no version twice)."""
    source = {k: iso(v) for k, v in source_rows(cluster.stack.emulator, entity_set, key).items()}
    rows = cluster.stack.dataset_rows(flow)
    landed = {r[key]: iso(r["modifiedon"]) for r in rows}
    assert len(rows) == len(source) == len(landed)
    assert checksum(landed) == checksum(source)


def test_a_worker_killed_mid_run_has_its_stalled_job_resumed_by_another_and_schedules_still_fire(
    cluster: Cluster,
) -> None:
    for _ in range(2):
        cluster.start_worker()
    connection = cluster.stack.connection()
    accounts = cluster.stack.flow(connection, "account", "merge")
    contacts = cluster.stack.flow(connection, "contact", "append")
    victim_run = cluster.stack.trigger(accounts)
    other_run = cluster.stack.trigger(contacts)
    wait_for_a_commit(cluster, accounts)
    victim = cluster.holder(victim_run)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)

    for run_id in (victim_run, other_run):
        run = cluster.stack.wait(run_id, timeout=240)
        assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
    assert_exact(cluster, accounts, "accounts", "accountid")
    assert_exact(cluster, contacts, "contacts", "contactid")
    [(attempt, holder)] = cluster.sql("SELECT attempt, claimed_by FROM run_queue WHERE run_id = %s", victim_run)
    assert attempt >= 2 and int(holder.split(":")[1]) != victim.pid
    failed = cluster.sql("SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'")
    assert failed[0][0] >= 1, "the killed worker's job should have been failed by the stalled-job recovery"

    # the surviving worker's periodic tick fires a one-time flow whose start has passed
    api = cluster.stack.api
    assert api is not None
    once = cluster.stack.flow(connection, "lead", "merge")
    etag = api.call("GET", f"/flows/{once['flow']}")["items"][0]["etag"]
    api.call(
        "PATCH",
        f"/flows/{once['flow']}",
        headers={"If-Match": etag},
        json=[
            {
                "op": "replace",
                "path": "/scheduleParams",
                "value": {"startTime": int(time.time()) - 5, "frequency": "once"},
            }
        ],
    )
    deadline = time.monotonic() + 60
    scheduled: list[Any] = []
    while time.monotonic() < deadline and not scheduled:
        scheduled = api.call("GET", "/runs", params={"property": f"flowId=={once['flow']}"})["items"]
        time.sleep(0.5)
    assert scheduled, "the periodic tick did not fire the one-time flow"
    assert cluster.stack.wait(scheduled[0]["id"])["metrics"]["statusSummary"]["status"] == "success"
    cluster.no_stuck_job()


def test_a_worker_stopped_by_sigterm_hands_its_run_back_and_another_worker_finishes_it(cluster: Cluster) -> None:
    for _ in range(2):
        cluster.start_worker()
    connection = cluster.stack.connection()
    accounts = cluster.stack.flow(connection, "account", "merge")
    run_id = cluster.stack.trigger(accounts)
    wait_for_a_commit(cluster, accounts)
    stopping = cluster.holder(run_id)
    stopping.send_signal(signal.SIGTERM)
    assert stopping.wait(timeout=60) == 0

    run = cluster.stack.wait(run_id, timeout=240)
    assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
    assert_exact(cluster, accounts, "accounts", "accountid")
    [(attempt, holder)] = cluster.sql("SELECT attempt, claimed_by FROM run_queue WHERE run_id = %s", run_id)
    assert attempt == 2 and int(holder.split(":")[1]) != stopping.pid
    statuses = cluster.sql(
        "SELECT status FROM procrastinate_jobs WHERE task_name = 'flowservice.run_flow' AND args->>'run_id' = %s"
        " ORDER BY id",
        run_id,
    )
    assert [s[0] for s in statuses] == ["succeeded", "succeeded"]  # handed back, not recovered as stalled
    log = cluster.logs[cluster.workers.index(stopping)].read_text()
    assert "queued again" in log
    cluster.no_stuck_job()


def test_a_worker_unregistered_behind_its_back_exits_with_an_error_and_its_successor_lands_the_run(
    cluster: Cluster,
) -> None:
    """What a worker frozen past the stale time finds when another worker started meanwhile (procrastinate
    prunes silent workers at start-up and never re-registers them): it cannot take jobs any more, so it stops
    and exits with an error for its supervisor to restart it, and a run queued meanwhile is not lost."""
    cluster.start_worker()
    orphan = cluster.workers[0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not cluster.sql("SELECT id FROM procrastinate_workers"):
        time.sleep(0.2)
    cluster.sql("DELETE FROM procrastinate_workers RETURNING id")  # what a starting worker's prune does
    connection = cluster.stack.connection()
    accounts = cluster.stack.flow(connection, "account", "merge")
    run_id = cluster.stack.trigger(accounts)
    assert orphan.wait(timeout=120) != 0
    cluster.start_worker()
    run = cluster.stack.wait(run_id, timeout=240)
    assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
    assert_exact(cluster, accounts, "accounts", "accountid")
    cluster.no_stuck_job()


def test_a_worker_with_two_threads_holds_two_runs_at_once(cluster: Cluster) -> None:
    cluster.start_worker(threads=2)
    connection = cluster.stack.connection()
    flows = [cluster.stack.flow(connection, "account", "merge"), cluster.stack.flow(connection, "contact", "merge")]
    runs = [cluster.stack.trigger(flow) for flow in flows]
    deadline = time.monotonic() + 120
    together = False
    while time.monotonic() < deadline and not together:
        held = cluster.sql("SELECT count(*) FROM run_queue WHERE status = 'running' AND run_id = ANY(%s)", runs)
        together = held[0][0] == 2
        time.sleep(0.05)
    assert together, "the second run never started while the first one ran"
    for run_id in runs:
        assert cluster.stack.wait(run_id, timeout=240)["metrics"]["statusSummary"]["status"] == "success"
    assert_exact(cluster, flows[0], "accounts", "accountid")
    assert_exact(cluster, flows[1], "contacts", "contactid")
