"""The rules of the procrastinate dispatch that need no database: how often periodic tasks fire, how jobs are
retried, and that ``serve`` refuses to poll the table when runs are procrastinate jobs."""

from __future__ import annotations

import itertools

import croniter
import pytest
from procrastinate.jobs import Job
from typer.testing import CliRunner

from flowservice.cli import app
from flowservice.dispatch.procrastinate_queue import libpq_url
from flowservice.dispatch.tasks import Backoff, cron_every
from flowservice.ports import FlowBusy


def gaps(cron: str, count: int = 4) -> set[float]:
    it = croniter.croniter(cron, 1_800_000_000.0)
    times = [it.get_next(float) for _ in range(count + 1)]
    return {b - a for a, b in itertools.pairwise(times)}


@pytest.mark.parametrize(("seconds", "gap"), [(0.2, 1), (5, 5), (120, 120), (3600, 3600), (7200, 7200)])
def test_a_periodic_task_fires_about_as_often_as_its_setting_says(seconds: float, gap: float) -> None:
    assert gaps(cron_every(seconds)) == {gap}


def job(attempts: int, priority: int = 0) -> Job:
    return Job(id=1, queue="q", lock="l", queueing_lock=None, task_name="t", attempts=attempts, priority=priority)


def test_a_busy_flow_is_retried_soon_and_other_errors_back_off_up_to_a_minute_forever() -> None:
    backoff = Backoff()
    assert backoff.wait_seconds(FlowBusy("r"), 500) == 1
    assert [backoff.wait_seconds(OSError("database down"), n) for n in (0, 1, 3, 6, 10_000)] == [1, 2, 8, 60, 60]
    decision = backoff.get_retry_decision(exception=OSError("database down"), job=job(10_000))
    assert decision is not None and decision.retry_at is not None  # never given up: the run must not be dropped
    assert decision.priority is None  # an error keeps the job's place


def test_a_job_retried_for_a_busy_flow_steps_back_behind_the_job_that_holds_the_flow() -> None:
    decision = Backoff().get_retry_decision(exception=FlowBusy("r"), job=job(3, priority=-2))
    assert decision is not None and decision.priority == -3


def test_procrastinate_mode_needs_a_postgresql_url() -> None:
    assert libpq_url("postgresql+psycopg://u@h:5432/db") == "postgresql://u@h:5432/db"
    with pytest.raises(ValueError, match="PostgreSQL"):
        libpq_url("sqlite:///x.db")


def test_serve_refuses_embedded_workers_when_runs_are_procrastinate_jobs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FLOWSERVICE_QUEUE", "procrastinate")
    monkeypatch.delenv("FLOWSERVICE_EMBEDDED_WORKERS", raising=False)
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "FLOWSERVICE_EMBEDDED_WORKERS=false" in result.output
