"""The scheduler: turns each enabled flow's due schedule windows into queued runs.

Firing a window and creating its run happen in one transaction keyed by (flow, window end), so a restart
neither misses a window (it is caught up) nor doubles one."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flowservice.domain.errors import FlowServiceError
from flowservice.domain.schedule import due_windows, parse_schedule
from flowservice.ports import RunQueue, Schedules
from flowservice.services.resources import new_id
from flowservice.services.runs.documents import new_run_doc

log = logging.getLogger("flowservice.scheduler")
SOURCES = "sourceConnections"


class Scheduler:
    def __init__(
        self,
        schedules: Schedules,
        queue: RunQueue,
        *,
        max_catch_up: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.schedules = schedules
        self.queue = queue
        self.max_catch_up = max_catch_up
        self.clock = clock

    def tick(self) -> int:
        """Queue the runs of every due window; return how many were created."""
        created = 0
        now = int(self.clock())
        bases: dict[str, Any] | None = None  # source connection → base connection, read once a window is due
        for tenant, flow in self.schedules.all_of_kind("flows"):
            if flow.doc.get("state") != "enabled":
                continue
            try:
                schedule = parse_schedule(flow.doc["scheduleParams"])
            except FlowServiceError as exc:
                log.warning("flow %s has an invalid schedule: %s", flow.id, exc.message)
                continue
            last = self.schedules.last_window_end(flow.id)
            for window in due_windows(schedule, last_fired_end=last, now=now, max_catch_up=self.max_catch_up):
                if bases is None:
                    bases = {
                        source.id: source.doc.get("baseConnectionId")
                        for _, source in self.schedules.all_of_kind(SOURCES)
                    }
                connection = _base_connection(flow.doc, bases)
                doc = new_run_doc(flow, tenant, "scheduler", (window.start, window.end), "scheduled")
                span = (window.start, window.end)
                if self.queue.enqueue("runs", tenant, new_id(), flow.id, doc, span, connection_id=connection):
                    created += 1
        return created


def _base_connection(flow: dict[str, Any], bases: dict[str, Any]) -> str:
    """The base connection a flow reads through (what the per-connection limit counts), "" when unknown."""
    sources = flow.get("sourceConnectionIds") or [""]
    base = bases.get(sources[0]) if isinstance(sources, list) and isinstance(sources[0], str) else None
    return base if isinstance(base, str) else ""
