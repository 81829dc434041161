"""Scale-out: the API server without embedded workers, and two ``flowservice worker`` processes sharing a
PostgreSQL database (one of them also scheduling). Runs are spread over both workers and land exactly."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.e2e.stack import Stack, server_env, source_rows, spawn
from tests.fixtures.server import postgres_server


@pytest.fixture
def database() -> Iterator[str]:
    base = postgres_server()
    name = f"flowservice_scaleout_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{base}/{name}"
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
