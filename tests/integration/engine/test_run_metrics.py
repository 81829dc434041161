"""The engine's Prometheus counters (``ports.RunMetrics`` as wired by bootstrap), over the working fake source:
they count what the run document counts, refused rows and deletes included, and each run's duration once."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.fakes.source import make_row
from tests.integration.engine.conftest import Harness


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_rows_read_written_failed_and_deleted_are_counted_per_org_as_the_run_document_counts_them(
    harness: Harness,
) -> None:
    org = harness.api.org
    table = harness.org.add_table("account", rows=40)
    table.rows["bad"] = dict(make_row(table, 99, modified=1), accountid=None)
    flow = harness.flow("account")
    ended_before = sample("flowservice_run_duration_seconds_count", status="partialSuccess")
    run = harness.run(flow, expect="partialSuccess")
    records = run["metrics"]["recordSummary"]
    assert sample("flowservice_rows_read_total", org=org) == records["inputRecordCount"] == 41
    assert sample("flowservice_rows_written_total", org=org) == records["outputRecordCount"] == 40
    assert sample("flowservice_rows_failed_total", org=org) == records["failedRecordCount"] == 1
    assert sample("flowservice_run_duration_seconds_count", status="partialSuccess") == ended_before + 1

    del table.rows["bad"]
    for key in list(table.rows)[:3]:
        table.delete(key)
    second = harness.run(flow)
    assert second["metrics"]["recordSummary"]["deletedRecordCount"] == 3
    assert sample("flowservice_rows_deleted_total", org=org) == 3
    assert sample("flowservice_rows_failed_total", org=org) == 1
