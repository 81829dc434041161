"""The gauges read from the database when ``/metrics`` is scraped: runs by state, the queue's depth and the
age of its oldest run, and each flow's data freshness. Read at scrape time from the shared tables, they are
the same whichever API server answers and whichever worker ran the runs (aggregate with ``max``, not ``sum``,
across API servers)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("flowservice.metrics")


class QueueFigures(Protocol):
    @property
    def org(self) -> str: ...
    @property
    def queued(self) -> int: ...
    @property
    def oldest_age_seconds(self) -> float: ...


class FreshnessFigures(Protocol):
    @property
    def org(self) -> str: ...
    @property
    def sandbox(self) -> str: ...
    @property
    def flow_id(self) -> str: ...
    @property
    def age_seconds(self) -> float: ...


class State(Protocol):
    """What the collector reads (``store.observed.ObservedState``)."""

    def runs_by_state(self) -> dict[tuple[str, str], int]: ...

    def queue(self) -> Iterable[QueueFigures]: ...

    def freshness(self) -> Iterable[FreshnessFigures]: ...


class DatabaseCollector(Collector):
    def __init__(self, state: State) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "flowservice_metrics_database_up", "1 when the database answered this scrape's queries, else 0."
        )
        try:
            families = self._families()
        except Exception as exc:  # noqa: BLE001 - an outage shows as a metric, not as a failed scrape
            log.warning("metrics: the database did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [*families, up]

    def _families(self) -> list[Metric]:
        runs = GaugeMetricFamily("flowservice_runs", "Run documents by state.", labels=["org", "status"])
        for (org, status), count in sorted(self.state.runs_by_state().items()):
            runs.add_metric([org, status], count)
        depth = GaugeMetricFamily("flowservice_run_queue_depth", "Runs waiting for a worker.", labels=["org"])
        oldest = GaugeMetricFamily(
            "flowservice_run_queue_oldest_age_seconds", "Age of the oldest run waiting for a worker.", labels=["org"]
        )
        for queued in self.state.queue():
            depth.add_metric([queued.org], queued.queued)
            oldest.add_metric([queued.org], queued.oldest_age_seconds)
        fresh = GaugeMetricFamily(
            "flowservice_flow_data_age_seconds",
            "Now minus the start of the flow's newest successful run: source changes older than that have landed.",
            labels=["org", "sandbox", "flow_id"],
        )
        for flow in self.state.freshness():
            fresh.add_metric([flow.org, flow.sandbox, flow.flow_id], flow.age_seconds)
        return [runs, depth, oldest, fresh]
