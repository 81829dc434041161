"""The Prometheus metrics a process reports (counters and histograms) and ``/metrics``'s exposition.

Labels are chosen for bounded cardinality: ``org`` on row and throttling counters (orgs are few, and a noisy
tenant is what an operator looks for), ``status`` on run durations, ``source`` and ``status`` on source requests.
Flow ids appear only on the freshness gauge (``database``), whose flows the database bounds."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import REGISTRY, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from flowservice.observability.processes import shared_folder

ROWS_READ = Counter("flowservice_rows_read", "Rows read from sources by runs.", ["org"])
ROWS_WRITTEN = Counter("flowservice_rows_written", "Rows landed in datasets by run commits.", ["org"])
ROWS_DELETED = Counter("flowservice_rows_deleted", "Rows deleted (or marked deleted) by run commits.", ["org"])
ROWS_FAILED = Counter("flowservice_rows_failed", "Rows refused as row errors by runs.", ["org"])
THROTTLED = Counter("flowservice_source_throttled_requests", "429 answers sources gave runs.", ["org"])
THROTTLE_WAIT = Counter(
    "flowservice_source_throttle_wait_seconds", "Seconds runs waited before retrying a 429 answer.", ["org"]
)
RUN_DURATION = Histogram(
    "flowservice_run_duration_seconds",
    "Duration of ended runs, from their start to their end.",
    ["status"],
    buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 21600, 86400),
)
SOURCE_REQUESTS = Counter(
    "flowservice_source_requests",
    "Requests sent to sources, by answer status (error: no answer).",
    ["source", "status"],
)
SOURCE_LATENCY = Histogram(
    "flowservice_source_request_duration_seconds",
    "Latency of requests sent to sources, until their body is read.",
    ["source"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


class PrometheusRunMetrics:
    """``ports.RunMetrics`` as Prometheus counters of this process."""

    def pages_read(self, org: str, rows: int, failed: int, throttled: int, throttled_seconds: float) -> None:
        ROWS_READ.labels(org).inc(rows)
        if failed:
            ROWS_FAILED.labels(org).inc(failed)
        if throttled:
            THROTTLED.labels(org).inc(throttled)
        if throttled_seconds:
            THROTTLE_WAIT.labels(org).inc(throttled_seconds)

    def committed(self, org: str, written: int, deleted: int) -> None:
        ROWS_WRITTEN.labels(org).inc(written)
        if deleted:
            ROWS_DELETED.labels(org).inc(deleted)

    def run_ended(self, org: str, status: str, seconds: float) -> None:
        RUN_DURATION.labels(status).observe(seconds)


def source_request(source: str, status: str, seconds: float) -> None:
    """``sources.net.observe``'s observer."""
    SOURCE_REQUESTS.labels(source, status).inc()
    SOURCE_LATENCY.labels(source).observe(seconds)


class _ThisProcess(Collector):
    """The default registry's metrics (this process's own), for a registry of our making."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def registry(*extra: Collector) -> CollectorRegistry:
    """What ``/metrics`` exposes: every process of this server (multi-process mode) or this one, and ``extra``."""
    found = CollectorRegistry(auto_describe=False)
    folder = shared_folder()
    if folder:
        MultiProcessCollector(found, path=folder)  # type: ignore[no-untyped-call]
    else:
        found.register(_ThisProcess())
    for collector in extra:
        found.register(collector)
    return found


def exposition(of: CollectorRegistry) -> bytes:
    return generate_latest(of)
