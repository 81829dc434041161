"""The embedded workers of ``flowservice serve`` are child processes: runs execute there, a killed worker is
replaced and its run resumes exactly, and no child outlives the server, however the server ends."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.e2e.stack import Stack, iso, server_env, source_rows, spawn, wait_for


def embedded_children(server_pid: int) -> list[psutil.Process]:
    """The embedded worker processes of a server (its children running ``flowservice.embedded``)."""
    found = []
    for child in psutil.Process(server_pid).children(recursive=True):
        try:
            if any("flowservice.embedded" in part for part in child.cmdline()):
                found.append(child)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def gone(process: psutil.Process) -> bool:
    """True once the process has exited (a zombie has exited too: only its exit status is left)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def queue_row(stack: Stack, run_id: str) -> dict[str, Any]:
    """The run's row of the run queue, read straight from the server's SQLite file."""
    with sqlite3.connect(f"file:{stack.data_dir / 'flowservice.db'}?mode=ro", uri=True, timeout=30) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT status, claimed_by, attempt FROM run_queue WHERE run_id = ?", (run_id,)).fetchone()
    return dict(row)


def claimer_pid(row: dict[str, Any]) -> int:
    """Worker ids are ``host:pid:suffix``."""
    return int(row["claimed_by"].split(":")[1])


def server_pid(stack: Stack) -> int:
    assert stack.server is not None
    return stack.server.process.pid


@pytest.fixture
def slow_stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    """Runs long enough to be interrupted: small pages and commits, a slow org, claims stale after 2 s."""
    emulator = start_emulator(scale=3000, seed=31, latency=40)
    stack = Stack(
        emulator,
        tmp_path / "server",
        server_env(
            emulator,
            FLOWSERVICE_RUN_STALE_SECONDS="2",
            FLOWSERVICE_COMMIT_EVERY_ROWS="300",
            FLOWSERVICE_PAGE_SIZE="100",
        ),
    )
    stack.start()
    yield stack
    stack.stop()


def assert_accounts_equal_source(stack: Stack, flow: dict[str, str]) -> None:
    source = source_rows(stack.emulator, "accounts", "accountid")
    landed = {r["accountid"]: iso(r["modifiedon"]) for r in stack.dataset_rows(flow)}
    assert landed == {k: iso(v) for k, v in source.items()}


def test_runs_execute_in_worker_processes_of_serve_that_log_to_its_output(start_emulator, tmp_path: Path) -> None:
    emulator = start_emulator(scale=800, seed=33)
    stack = Stack(emulator, tmp_path / "server", server_env(emulator, FLOWSERVICE_PAGE_SIZE="200"))
    stack.start()
    try:
        children = wait_for(
            lambda: len(embedded_children(server_pid(stack))) == 2 and embedded_children(server_pid(stack)),
            "two embedded worker processes",
        )
        connection = stack.connection()
        accounts, contacts = stack.flow(connection, "account", "merge"), stack.flow(connection, "contact", "append")
        runs = [stack.trigger(accounts), stack.trigger(contacts)]
        for run_id in runs:
            assert stack.wait(run_id)["metrics"]["statusSummary"]["status"] == "success"
        executed_by = {claimer_pid(queue_row(stack, run_id)) for run_id in runs}
        assert executed_by <= {c.pid for c in children}
        assert server_pid(stack) not in executed_by
        assert_accounts_equal_source(stack, accounts)
        assert len(stack.dataset_rows(contacts)) == len(source_rows(emulator, "contacts", "contactid"))
        assert stack.server is not None
        log = stack.server.log_path.read_text()  # the children write their lines into the server's log
        assert all(f"running (pid {child.pid})" in log for child in children)
    finally:
        stack.stop()


def test_thread_mode_keeps_the_workers_inside_the_server(start_emulator, tmp_path: Path) -> None:
    emulator = start_emulator(scale=300, seed=34)
    stack = Stack(emulator, tmp_path / "server", server_env(emulator, FLOWSERVICE_WORKER_MODE="thread"))
    stack.start()
    try:
        flow = stack.flow(stack.connection(), "account", "merge")
        run_id = stack.trigger(flow)
        assert stack.wait(run_id)["metrics"]["statusSummary"]["status"] == "success"
        assert claimer_pid(queue_row(stack, run_id)) == server_pid(stack)
        assert embedded_children(server_pid(stack)) == []
        assert_accounts_equal_source(stack, flow)
    finally:
        stack.stop()


def test_a_worker_process_killed_mid_run_is_replaced_and_the_run_resumes_exactly(slow_stack: Stack) -> None:
    stack = slow_stack
    flow = stack.flow(stack.connection(), "account", "merge")
    run_id = stack.trigger(flow)
    assert stack.api is not None

    def landed_some() -> bool:
        run = stack.api.call("GET", f"/runs/{run_id}")["items"][0]  # type: ignore[union-attr]
        return (
            run["metrics"]["statusSummary"]["status"] == "inProgress"
            and run["metrics"]["recordSummary"]["outputRecordCount"] > 0
        )

    wait_for(landed_some, "the run landing its first rows")
    victim = claimer_pid(queue_row(stack, run_id))
    assert victim in {c.pid for c in embedded_children(server_pid(stack))}
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        pids = {c.pid for c in embedded_children(server_pid(stack))}
        return len(pids) == 2 and victim not in pids

    wait_for(replaced, "a new worker process in place of the killed one")
    run = stack.wait(run_id)
    assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
    row = queue_row(stack, run_id)
    assert row["attempt"] >= 2, "the run was not resumed: it finished before the kill"
    assert claimer_pid(row) != victim
    assert run["metrics"]["recordSummary"]["outputRecordCount"] == 3000
    assert_accounts_equal_source(stack, flow)
    assert stack.server is not None
    assert f"(pid {victim}) ended with signal SIGKILL" in stack.server.log_path.read_text()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_no_worker_process_outlives_the_server(slow_stack: Stack, how: str) -> None:
    stack = slow_stack
    flow = stack.flow(stack.connection(), "account", "merge")
    run_id = stack.trigger(flow)
    wait_for(lambda: queue_row(stack, run_id)["status"] == "running", "the run being claimed")
    children = embedded_children(server_pid(stack))
    assert len(children) == 2
    assert stack.server is not None
    stack.server.process.send_signal(signal.Signals[how])
    stack.server.process.wait(timeout=60)
    wait_for(lambda: all(gone(c) for c in children), f"every worker process ending after {how}")
    assert [c.pid for c in children if not gone(c)] == []
    if how != "SIGKILL":  # a shutdown, not a crash: the run in flight went back to the queue
        assert queue_row(stack, run_id)["status"] == "queued"


def test_a_worker_command_stopped_by_sigterm_puts_its_run_back_in_the_queue(start_emulator, tmp_path: Path) -> None:
    emulator = start_emulator(scale=3000, seed=35, latency=40)
    env = server_env(
        emulator, FLOWSERVICE_EMBEDDED_WORKERS="false", FLOWSERVICE_COMMIT_EVERY_ROWS="300", FLOWSERVICE_PAGE_SIZE="100"
    )
    stack = Stack(emulator, tmp_path / "server", env)
    stack.start()
    worker = spawn(
        [sys.executable, "-m", "flowservice", "worker", "--data-dir", str(stack.data_dir)],
        {**os.environ, **env},
        tmp_path / "worker.log",
    )
    try:
        run_id = stack.trigger(stack.flow(stack.connection(), "account", "merge"))
        wait_for(lambda: queue_row(stack, run_id)["status"] == "running", "the worker claiming the run")
        assert claimer_pid(queue_row(stack, run_id)) == worker.pid
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        assert queue_row(stack, run_id)["status"] == "queued"  # the next worker resumes it at once
    finally:
        if worker.poll() is None:
            worker.kill()
        stack.stop()
