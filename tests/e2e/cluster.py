"""``flowservice worker`` processes beside an API server without embedded workers, on a PostgreSQL database of
their own (the ``database`` fixture, ``tests/e2e/conftest.py``): start them, find which holds a run, ask the
database, and wait until nothing is left running."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tests.e2e.stack import Stack, spawn


@dataclass
class Cluster:
    stack: Stack
    database: str
    workers: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def start_worker(self, threads: int = 1) -> None:
        index = len(self.workers)
        command = [sys.executable, "-m", "flowservice", "worker", "--data-dir", str(self.stack.data_dir)]
        command += ["--threads", str(threads)]
        log = self.stack.data_dir.parent / f"worker{index}.log"
        self.workers.append(spawn(command, {**os.environ, **self.stack.env}, log))
        self.logs.append(log)

    def holder(self, run_id: str) -> subprocess.Popen[bytes]:
        """The worker process whose claim holds the run (its claim names its pid: host:pid:tag/job)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = self.sql("SELECT claimed_by FROM run_queue WHERE run_id = %s AND status = 'running'", run_id)
            if row and row[0][0]:
                pid = int(row[0][0].split(":")[1])
                return next(w for w in self.workers if w.pid == pid)
            time.sleep(0.1)
        raise AssertionError(f"no worker claimed run {run_id} within 60 s")

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database) as conn:
            return conn.execute(query, params).fetchall()

    def no_stuck_job(self) -> None:
        """Every job ended and every run ended: nothing waits for a worker that is gone."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            waiting = self.sql("SELECT id, status FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
            waiting = [j for j in waiting if not self._periodic(j[0])]
            runs = self.sql("SELECT run_id, status FROM run_queue WHERE status IN ('queued', 'running')")
            if not waiting and not runs:
                return
            time.sleep(0.2)
        raise AssertionError(f"stuck after 30 s: jobs {waiting}, runs {runs}")

    def _periodic(self, job_id: int) -> bool:
        return bool(
            self.sql("SELECT 1 FROM procrastinate_jobs WHERE id = %s AND task_name <> 'flowservice.run_flow'", job_id)
        )


def checksum(rows: dict[str, str]) -> str:
    return hashlib.sha256("\n".join(f"{k},{v}" for k, v in sorted(rows.items())).encode()).hexdigest()
