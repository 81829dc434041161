"""The embedded mode runs the API and its workers in several processes on one SQLite file: their writes must
wait for each other, never fail with ``database is locked``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flowservice.bootstrap import build
from flowservice.domain.tenancy import Tenant
from flowservice.settings import Settings

WRITER = """
import sys, uuid
from flowservice.bootstrap import build
from flowservice.domain.tenancy import Tenant
from flowservice.settings import Settings

container = build(Settings(data_dir=sys.argv[1]))
tenant, resources, queue = Tenant("SQLITE@AdobeOrg", "prod"), container.catalog.resources, container.queue
me = f"writer-{sys.argv[2]}"
for i in range(int(sys.argv[3])):
    key = uuid.uuid4().hex
    resources.add("connections", tenant, key, {"name": me}, {})
    resources.update("connections", tenant, key, {"name": me, "i": i}, None, if_etag=None)
    queue.enqueue("runs", tenant, key, f"{me}-flow-{i}", {"metrics": {}}, None)
    claim = queue.claim(me, 60)  # any writer's queued run, or none when the others took them all
    if claim is not None:
        assert queue.heartbeat(claim)
        assert queue.finish(claim)
while (claim := queue.claim(me, 60)) is not None:
    assert queue.finish(claim)
print("done")
"""


def test_writers_in_several_processes_share_one_sqlite_file_without_locking_errors(tmp_path: Path) -> None:
    data_dir, writers, rounds = tmp_path / "data", 4, 100
    build(Settings(data_dir=data_dir)).close()  # the server migrates before it starts its workers
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(data_dir), str(n), str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(writers)
    ]
    outcomes = [child.communicate(timeout=600) for child in children]
    failures = [err[-2000:] for child, (_out, err) in zip(children, outcomes, strict=True) if child.returncode]
    assert failures == []
    container = build(Settings(data_dir=data_dir))
    try:
        tenant = Tenant("SQLITE@AdobeOrg", "prod")
        assert len(container.catalog.resources.list("connections", tenant)) == writers * rounds
        assert container.queue.claim("checker", stale_after_seconds=3600) is None  # nothing left queued
    finally:
        container.close()
