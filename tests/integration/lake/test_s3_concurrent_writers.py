"""Several writer processes on one Delta table in a real S3 bucket. Two writers may only both try to write the
same log version; the store's refusal of the second ``If-None-Match: *`` put (conditional put) is what keeps
one of them from silently replacing the other's commit. So: no commit lost, none doubled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from flowservice.lake import DeltaLake
from flowservice.ports import WriteMode
from tests.fixtures.s3_server import S3Server

from .tables import TABLE, accounts, commit

REPO = Path(__file__).resolve().parents[3]
WRITERS = 3
COMMITS = 6
ROWS = 5


def _run_writers(tmp_path: Path, specs: list[dict]) -> list[list[dict]]:
    go = tmp_path / "go"
    processes = []
    for i, spec in enumerate(specs):
        spec_file = tmp_path / f"writer-{i}.json"
        spec_file.write_text(json.dumps({**spec, "go": str(go)}))
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.lake.s3_writer", str(spec_file)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
    go.touch()  # every writer is started: let them commit at once
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        results.append([json.loads(line) for line in out.splitlines()])
    return results


def _log_versions(lake: DeltaLake, s3_server: S3Server) -> list[int]:
    """The versions in the table's log: one per commit, none missing (an overwritten one would be)."""
    table = DeltaTable(lake.location(TABLE), storage_options=s3_server.storage_options())
    return sorted(entry["version"] for entry in table.history())


def test_three_writer_processes_of_different_flows_lose_no_commit_and_double_none(
    s3_server: S3Server, s3_prefix: str, tmp_path: Path
):
    lake = DeltaLake(s3_server.root(s3_prefix), s3_server.storage_options())
    commit(lake, accounts(("seed", "seed", 0)), 1, app_id="seed", mode="append")
    specs = [
        {
            "root": s3_server.root(s3_prefix),
            "options": s3_server.storage_options(),
            "app_id": f"writer-{w}",
            "keys": f"w{w}",
            "txns": list(range(1, COMMITS + 1)),
            "rows": ROWS,
            "mode": "append",
        }
        for w in range(WRITERS)
    ]

    results = _run_writers(tmp_path, specs)

    assert all(not r["noop"] for writer in results for r in writer)
    versions = [r["version"] for writer in results for r in writer]
    assert sorted(versions) == list(range(1, WRITERS * COMMITS + 1))  # each commit got its own log version
    assert _log_versions(lake, s3_server) == list(range(WRITERS * COMMITS + 1))
    keys = lake.read(TABLE).column("accountid").to_pylist()
    assert len(keys) == len(set(keys)) == WRITERS * COMMITS * ROWS + 1
    for w in range(WRITERS):
        last = lake.last_commit(TABLE, f"writer-{w}")
        assert last is not None and last.txn_version == COMMITS and last.cursor == {"txn": COMMITS, "writer": f"w{w}"}


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_three_processes_racing_to_write_the_same_transactions_land_each_exactly_once(
    s3_server: S3Server, s3_prefix: str, tmp_path: Path, mode: WriteMode
):
    """A worker presumed dead, its successor and a third: all write the same flow's transactions 2..N+1."""
    lake = DeltaLake(s3_server.root(s3_prefix), s3_server.storage_options())
    commit(lake, accounts(("first", "flow-1", 1)), 1, mode=mode)
    specs = [
        {
            "root": s3_server.root(s3_prefix),
            "options": s3_server.storage_options(),
            "app_id": "flow-1",
            "keys": "same",  # the same rows from every writer: a doubled commit would show as doubled keys
            "txns": list(range(2, COMMITS + 2)),
            "rows": ROWS,
            "mode": mode,
        }
        for _ in range(WRITERS)
    ]

    results = _run_writers(tmp_path, specs)

    landed = sorted(r["txn"] for writer in results for r in writer if not r["noop"])
    assert landed == list(range(2, COMMITS + 2))  # every transaction by exactly one of the writers
    assert _log_versions(lake, s3_server) == list(range(COMMITS + 1))
    keys = lake.read(TABLE).column("accountid").to_pylist()
    assert len(keys) == len(set(keys)) == COMMITS * ROWS + 1
    last = lake.last_commit(TABLE, "flow-1")
    assert last is not None and last.txn_version == COMMITS + 1
