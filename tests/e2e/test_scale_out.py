"""Scale-out: the API server without embedded workers, and ``flowservice worker`` processes sharing a PostgreSQL
database: two polling the run-queue table (one of them also scheduling), and three taking runs as procrastinate
jobs, the lake in a real S3 bucket, while one is killed and another frozen. Runs are spread over the workers
and land exactly."""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.cluster import Cluster, checksum
from tests.e2e.stack import Stack, iso, server_env, source_rows, spawn, wait_for
from tests.fixtures.s3_server import S3Server


@pytest.mark.postgres
def test_two_worker_processes_on_postgresql_share_the_runs(start_emulator, database: str, tmp_path: Path) -> None:
    emulator = start_emulator(scale=2500, seed=21, latency=30)
    env = server_env(
        emulator, FLOWSERVICE_DATABASE_URL=database, FLOWSERVICE_EMBEDDED_WORKERS="false", FLOWSERVICE_PAGE_SIZE="250"
    )
    stack = Stack(emulator, tmp_path / "server", env)
    stack.start()
    workers = [
        spawn(
            [
                sys.executable,
                "-m",
                "flowservice",
                "worker",
                "--data-dir",
                str(stack.data_dir),
                *(["--scheduler"] if i == 0 else []),
            ],
            {**os.environ, **env},
            tmp_path / f"worker{i}.log",
        )
        for i in range(2)
    ]
    try:
        connection = stack.connection()
        accounts = stack.flow(connection, "account", "merge")
        contacts = stack.flow(connection, "contact", "append")
        runs = [stack.trigger(accounts), stack.trigger(contacts)]
        for run_id in runs:
            run = stack.wait(run_id)
            assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
        with psycopg.connect(database) as conn:
            claimed = {
                row[0] for row in conn.execute("SELECT claimed_by FROM run_queue WHERE run_id = ANY(%s)", (runs,))
            }
        assert len(claimed) == 2, f"both runs went to one worker: {claimed}"
        landed = {r["accountid"] for r in stack.dataset_rows(accounts)}
        assert landed == set(source_rows(emulator, "accounts", "accountid"))

        # the scheduling worker fires a one-time flow whose start has passed
        assert stack.api is not None
        once = stack.flow(connection, "lead", "merge")
        stack.api.call(
            "PATCH",
            f"/flows/{once['flow']}",
            headers={"If-Match": stack.api.call("GET", f"/flows/{once['flow']}")["items"][0]["etag"]},
            json=[
                {
                    "op": "replace",
                    "path": "/scheduleParams",
                    "value": {"startTime": int(time.time()) - 5, "frequency": "once"},
                }
            ],
        )
        deadline = time.monotonic() + 60
        scheduled: list = []
        while time.monotonic() < deadline and not scheduled:
            scheduled = stack.api.call("GET", "/runs", params={"property": f"flowId=={once['flow']}"})["items"]
            time.sleep(0.5)
        assert scheduled, "the scheduler did not fire the one-time flow"
        assert stack.wait(scheduled[0]["id"])["metrics"]["statusSummary"]["status"] == "success"
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        stack.stop()


ENTITIES = {"account": ("accounts", "accountid"), "contact": ("contacts", "contactid"), "lead": ("leads", "leadid")}


def dataset_of(stack: Stack, database: str, org: str, flow: dict[str, str]) -> list[dict[str, Any]]:
    from flowservice.bootstrap import build
    from flowservice.settings import Settings

    container = build(Settings(data_dir=stack.data_dir, database_url=database))
    try:
        return list(container.query(org, "prod", f'SELECT * FROM "{flow["name"]}"').to_pylist())
    finally:
        container.close()


def running_holders(cluster: Cluster) -> dict[str, int]:
    """Running runs → the pid of the worker process whose claim holds each."""
    rows = cluster.sql("SELECT run_id, claimed_by FROM run_queue WHERE status = 'running' AND claimed_by IS NOT NULL")
    return {run_id: int(holder.split(":")[1]) for run_id, holder in rows}


@pytest.mark.postgres
def test_three_procrastinate_workers_survive_a_kill_and_a_freeze_and_land_twenty_flows_of_four_orgs_exactly(
    start_emulator,
    database: str,
    s3_server: S3Server,
    s3_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lake in a real S3 bucket (SeaweedFS), shared by the three workers."""
    emulator = start_emulator(scale=1500, seed=23, latency=40)
    lake_env = s3_server.env(s3_prefix)
    for name, value in lake_env.items():  # the test's own reads of the datasets use them too
        monkeypatch.setenv(name, value)
    env = server_env(
        emulator,
        FLOWSERVICE_DATABASE_URL=database,
        FLOWSERVICE_QUEUE="procrastinate",
        FLOWSERVICE_EMBEDDED_WORKERS="false",
        FLOWSERVICE_RUN_STALE_SECONDS="3",
        FLOWSERVICE_PAGE_SIZE="100",
        FLOWSERVICE_COMMIT_EVERY_ROWS="300",
        **lake_env,
    )
    stack = Stack(emulator, tmp_path / "server", env)
    stack.start()
    cluster = Cluster(stack, database, [], [])
    clients: list[Any] = []
    try:
        for _ in range(3):
            cluster.start_worker()
        assert stack.server is not None
        flows: list[tuple[str, Stack, dict[str, str]]] = []
        for index in range(4):
            org = f"SCALE{index}{uuid.uuid4().hex[:6].upper()}@AdobeOrg"
            clients.append(stack.server.client(org))
            tenant_stack = replace(stack, api=clients[-1])
            connection = tenant_stack.connection()
            for table, mode in (("account", "merge"), ("account", "append"), ("contact", "merge"),
                                ("contact", "append"), ("lead", "merge")):  # fmt: skip
                flows.append((org, tenant_stack, tenant_stack.flow(connection, table, mode)))
        runs = [(org, tenant_stack, flow, tenant_stack.trigger(flow)) for org, tenant_stack, flow in flows]

        by_pid = {worker.pid: worker for worker in cluster.workers}
        killed = by_pid[wait_for(lambda: next(iter(running_holders(cluster).values()), None), "a run started")]
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)

        def frozen_candidate() -> tuple[str, int] | None:
            held = [(r, pid) for r, pid in running_holders(cluster).items() if pid != killed.pid]
            return held[0] if held else None

        frozen_run, frozen_pid = wait_for(frozen_candidate, "a run held by a live worker")
        frozen = by_pid[frozen_pid]
        frozen.send_signal(signal.SIGSTOP)
        try:
            wait_for(
                lambda: running_holders(cluster).get(frozen_run) not in (frozen_pid,),
                "the frozen worker's run taken by another worker",
            )
        finally:
            frozen.send_signal(signal.SIGCONT)

        for _org, tenant_stack, flow, run_id in runs:
            run = tenant_stack.wait(run_id, timeout=600)
            assert run["metrics"]["statusSummary"]["status"] == "success", (flow["name"], run["metrics"])
        for org, _tenant_stack, flow, _run_id in runs:
            entity_set, key = ENTITIES[flow["table"]]
            source = {k: iso(v) for k, v in source_rows(emulator, entity_set, key).items()}
            rows = dataset_of(stack, database, org, flow)
            landed = {r[key]: iso(r["modifiedon"]) for r in rows}
            assert len(rows) == len(landed) == len(source), f"{org} {flow['name']}: a row missing or twice"
            assert checksum(landed) == checksum(source), f"{org} {flow['name']}"
        cluster.no_stuck_job()
        assert frozen.poll() is None, "the worker that was frozen and resumed must keep serving"
        assert killed.returncode == -signal.SIGKILL
    finally:
        for client in clients:
            client.http.close()
        for worker in cluster.workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=30)
        stack.stop()
