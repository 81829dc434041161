"""Fencing with real processes on PostgreSQL: a ``flowservice worker`` frozen mid-run (SIGSTOP) loses its run
to a second worker; when it wakes (SIGCONT) it writes nothing more, and the dataset equals the source exactly.
Checked at several freeze points, in append and merge mode."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.stack import Stack, server_env, source_rows, spawn, wait_for

STALE_SECONDS = "2"
SCENARIOS = [(1, "account", "append"), (3, "account", "merge"), (6, "contact", "append"), (6, "contact", "merge")]
KEYS = {"account": ("accounts", "accountid"), "contact": ("contacts", "contactid")}


def start_worker(stack: Stack, log: Path) -> subprocess.Popen[bytes]:
    return spawn(
        [sys.executable, "-m", "flowservice", "worker", "--data-dir", str(stack.data_dir)],
        {**os.environ, **stack.env},
        log,
    )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
        process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_doc(stack: Stack, run_id: str) -> dict[str, Any]:
    assert stack.api is not None
    return dict(stack.api.call("GET", f"/runs/{run_id}")["items"][0])


def table_version(stack: Stack, dataset_id: str) -> int:
    assert stack.api is not None
    return int(stack.api.call("GET", f"/data/foundation/catalog/dataSets/{dataset_id}")[dataset_id]["lake"]["version"])


@pytest.mark.postgres
def test_a_frozen_worker_loses_its_run_and_writes_nothing_when_it_wakes(
    start_emulator, database: str, tmp_path: Path
) -> None:
    emulator = start_emulator(scale=700, seed=5, latency=40)
    env = server_env(
        emulator,
        FLOWSERVICE_DATABASE_URL=database,
        FLOWSERVICE_EMBEDDED_WORKERS="false",
        FLOWSERVICE_PAGE_SIZE="50",
        FLOWSERVICE_COMMIT_EVERY_ROWS="100",
        FLOWSERVICE_RUN_STALE_SECONDS=STALE_SECONDS,
    )
    stack = Stack(emulator, tmp_path / "server", env)
    stack.start()
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
    workers = [start_worker(stack, log) for log in logs]
    try:
        connection = stack.connection()
        for freeze_after, table, mode in SCENARIOS:
            flow = stack.flow(connection, table, mode)
            run_id = stack.trigger(flow)

            def commits(run_id: str = run_id) -> int:
                return int(run_doc(stack, run_id)["metrics"]["fileSummary"].get("outputFileCount") or 0)

            wait_for(
                lambda freeze_after=freeze_after, commits=commits: commits() >= freeze_after,
                f"{freeze_after} commits",
                timeout=40,
                every=0.02,  # the run must still be going when it is frozen
            )
            with psycopg.connect(database) as conn:
                row = conn.execute("SELECT claimed_by FROM run_queue WHERE run_id = %s", (run_id,)).fetchone()
            assert row is not None
            index = next(i for i, w in enumerate(workers) if f":{w.pid}:" in row[0])
            frozen, frozen_log = workers[index], logs[index]
            told = frozen_log.read_bytes().count(b"no longer")
            frozen.send_signal(signal.SIGSTOP)
            at_freeze = commits()
            assert run_doc(stack, run_id)["metrics"]["statusSummary"]["status"] == "inProgress", (
                f"the run ended before the freeze after {freeze_after} commits; slow the source down"
            )

            # the other worker takes the run over once the frozen one's heartbeat is stale
            finished = stack.wait(run_id, timeout=60)
            assert finished["metrics"]["statusSummary"]["status"] == "success", finished["metrics"]
            version = table_version(stack, flow["dataset"])
            with psycopg.connect(database) as conn:
                holder = conn.execute(
                    "SELECT claimed_by, attempt FROM run_queue WHERE run_id = %s", (run_id,)
                ).fetchone()
            # taken over by the other worker: at least one claim after the frozen one's (on a loaded machine the
            # 2 s staleness can pass a healthy worker by too, and its run is claimed again, fenced the same way)
            assert holder is not None and holder[1] >= 2 and holder[0] != row[0], f"not taken over: {holder}"

            frozen.send_signal(signal.SIGCONT)
            wait_for(
                lambda frozen_log=frozen_log, told=told: frozen_log.read_bytes().count(b"no longer") > told,
                "the woken worker to learn it lost the run",
                timeout=40,
            )
            assert table_version(stack, flow["dataset"]) == version  # no commit after waking
            assert run_doc(stack, run_id)["etag"] == finished["etag"]  # no run-document update

            entity_set, key = KEYS[table]
            source = set(source_rows(emulator, entity_set, key))
            landed = Counter(r[key] for r in stack.dataset_rows(flow))
            assert set(landed) == source, f"frozen after {at_freeze} commits: missing or extra rows"
            assert max(landed.values()) == 1, f"frozen after {at_freeze} commits: duplicate versions"
            assert finished["metrics"]["recordSummary"]["outputRecordCount"] == len(source)
    finally:
        for worker in workers:
            stop_worker(worker)
        stack.stop()
