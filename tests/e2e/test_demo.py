"""The README's main job: ``flowservice demo`` end to end (smaller scale), checked against its datasets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flowservice.bootstrap import build
from flowservice.settings import Settings


def test_the_demo_runs_end_to_end_and_its_summary_matches_the_datasets(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "flowservice", "demo", "--scale", "1500", "--work-dir", str(work)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for step in (
        "Starting a local Dynamics 365 org",
        "Creating the Dynamics connection",
        "Exploring the org",
        "First run: full load",
        "Querying the datasets",
        "Changing rows",
        "Second run",
        "Done",
    ):
        assert step in result.stdout, step
    summary = json.loads((work / "summary.json").read_text())
    first, second, changes = summary["runs"]["first"], summary["runs"]["second"], summary["changes"]
    assert first["account (merge)"]["written"] == 1500 and first["contact (append)"]["written"] == 3000
    account, contact = changes["account"], changes["contact"]
    assert second["account (merge)"]["read"] == account["created"] + account["updated"]
    assert second["account (merge)"]["deleted"] == account["deleted"]

    container = build(Settings(data_dir=Path(summary["data_dir"])))
    try:
        count = container.query(summary["org"], "prod", "SELECT count(*) AS n FROM accounts").to_pylist()[0]["n"]
        assert count == 1500 + account["created"] - account["deleted"]
        kinds = container.query(
            summary["org"], "prod", "SELECT _change_type AS kind, count(*) AS n FROM contacts GROUP BY 1"
        ).to_pylist()
        by_kind = {row["kind"]: row["n"] for row in kinds}
        assert by_kind == {"upsert": 3000 + contact["created"] + contact["updated"], "delete": contact["deleted"]}
    finally:
        container.close()
