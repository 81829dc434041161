"""``flowservice demo --scale-out`` end to end at a small scale: PostgreSQL, a local S3 server and three
procrastinate workers; every run succeeds, and the runs spread over more than one worker."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.server import postgres_server


@pytest.fixture
def database() -> Iterator[str]:
    """A name no other test uses; the demo creates the database, the fixture drops it after."""
    name = f"flowservice_demo_scale_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(postgres_server() + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_the_scale_out_demo_lands_every_run_and_spreads_them_over_several_workers(
    tmp_path: Path, database: str
) -> None:
    work = tmp_path / "demo"
    command = [sys.executable, "-m", "flowservice", "demo", "--scale-out", "--scale", "600", "--work-dir", str(work)]
    admin = ["--admin-database-url", postgres_server() + "/postgres", "--database", database]
    result = subprocess.run([*command, *admin], capture_output=True, text=True, timeout=480)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for step in ("Creating the PostgreSQL database", "Starting a local S3 server", "worker processes on procrastinate",
                 "where each run went", "Querying the datasets", "Second run", "Done"):  # fmt: skip
        assert step in result.stdout, step
    summary = json.loads((work / "summary.json").read_text())
    assert summary["database"] == database and summary["lake"].startswith("s3://")
    assert len(summary["workers"]) == 3
    for round_runs in summary["runs"].values():
        assert len(round_runs) == 3, round_runs
        assert all(run["status"] == "success" for run in round_runs.values()), round_runs
    assert summary["runs"]["first"]["account (merge)"]["written"] == 600
    assert summary["runs"]["first"]["contact (append)"]["written"] == 1200
    settings = work / "scale-out.env"
    assert settings.stat().st_mode & 0o077 == 0, "the settings hold the S3 secret: the owner's alone"
    assert "FLOWSERVICE_QUEUE=procrastinate" in settings.read_text().splitlines()
    placements = summary["placements"]
    assert sorted(placements) == ["First run: full load", "Second run: only the changes"]
    assert all(set(placed) == set(summary["runs"]["first"]) for placed in placements.values())
    used = {worker for placed in placements.values() for worker in placed.values()}
    assert used <= set(summary["workers"]) and len(used) > 1, placements
