"""Metrics shared by a server and its embedded worker processes (prometheus-client's multi-process mode).

A run executes in a child process of ``flowservice serve``; its counters must reach the server's ``/metrics``.
In multi-process mode every process writes its values to files in one folder, and the server adds them up
when scraped. The mode is chosen by ``PROMETHEUS_MULTIPROC_DIR`` before prometheus-client is first imported,
so ``serve`` calls ``share_with_children`` first thing; the children inherit the variable.
Only counters and histograms are kept this way (their sums are right after a child dies); gauges are read from
the database at scrape time (``database``)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def share_with_children(data_dir: Path) -> Path | None:
    """Point this process (and the processes it starts) at ``data_dir/metrics``, emptied: a new server starts
    its counters from zero, as a restarted process does. Call it before anything imports prometheus_client;
    when something did (``serve`` called inside a process that already has metrics), the mode stays off and
    ``/metrics`` shows this process's counters only."""
    if "prometheus_client" in sys.modules and VARIABLE not in os.environ:
        logging.getLogger("flowservice.metrics").warning(
            "prometheus_client was imported before the multi-process mode was chosen: /metrics shows this "
            "process's counters only, not its embedded workers'"
        )
        return None
    folder = Path(data_dir, "metrics").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ[VARIABLE] = str(folder)
    return folder


def shared_folder() -> str | None:
    """The folder of the multi-process mode, when this process is in it."""
    return os.environ.get(VARIABLE) or None
