"""Through the emulator: a full resync deletes what the source lost, a commit at a time; a source
connection whose columns change is read in full, and says why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable

from flowservice.domain.catalogue import DYNAMICS_SPEC_ID
from tests.e2e.stack import Stack, server_env, source_rows

COMMIT_ROWS = 50


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    emulator = start_emulator(scale=200, seed=13)
    stack = Stack(
        emulator,
        tmp_path / "server",
        server_env(emulator, FLOWSERVICE_PAGE_SIZE="40", FLOWSERVICE_COMMIT_EVERY_ROWS=str(COMMIT_ROWS)),
    )
    stack.start()
    yield stack
    stack.stop()


def deletes_per_commit(stack: Stack, flow: dict[str, str], run_id: str) -> list[int]:
    """Rows each commit of the run deleted, from the cursors in the Delta log (oldest first)."""
    assert stack.api is not None
    dataset = stack.api.call("GET", f"/data/foundation/catalog/dataSets/{flow['dataset']}")[flow["dataset"]]
    history = DeltaTable(str(stack.data_dir / "lake" / dataset["lake"]["path"])).history()
    totals = []
    for info in reversed(history):
        cursor = json.loads(info.get("userMetadata") or "{}").get("flowservice", {}).get("cursor", {})
        if cursor.get("run_id") == run_id:
            totals.append(cursor["counters"]["deleted"])
    return [b - a for a, b in zip([0, *totals], totals, strict=False)]


def test_an_expired_token_resync_deletes_more_missing_keys_than_one_commit_holds(stack: Stack) -> None:
    flow = stack.flow(stack.connection(), "account", "merge")
    assert stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]["status"] == "success"
    doomed = sorted(source_rows(stack.emulator, "accounts", "accountid"))[:130]
    with stack.emulator.client() as client:
        for row_id in doomed:
            client.delete(f"accounts({row_id})").raise_for_status()
    stack.emulator.set_faults([{"kind": "expired_delta_token", "table": "account", "count": 1}])
    try:
        run = stack.wait(stack.trigger(flow))
    finally:
        stack.emulator.clear_faults()
    metrics = run["metrics"]
    assert metrics["statusSummary"]["status"] == "success" and metrics["statusSummary"]["extensions"]["fullResync"]
    assert metrics["recordSummary"]["deletedRecordCount"] == 130
    deleted = deletes_per_commit(stack, flow, run["id"])
    assert sum(deleted) == 130 and max(deleted) <= COMMIT_ROWS  # a commit at a time
    landed = {r["accountid"] for r in stack.dataset_rows(flow)}
    assert landed == set(source_rows(stack.emulator, "accounts", "accountid"))


def test_changing_the_columns_of_a_source_connection_reads_the_table_in_full(stack: Stack) -> None:
    flow = stack.flow(stack.connection(), "contact", "merge")
    assert stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]["status"] == "success"
    assert stack.api is not None
    doc = stack.api.call("GET", f"/flows/{flow['flow']}")["items"][0]
    source_id = doc["sourceConnectionIds"][0]
    source = stack.api.call("GET", f"/sourceConnections/{source_id}")["items"][0]
    assert source["connectionSpec"]["id"] == DYNAMICS_SPEC_ID
    patched = stack.api.call(
        "PATCH",
        f"/sourceConnections/{source_id}",
        headers={"If-Match": source["etag"]},
        json=[{"op": "add", "path": "/params/columns", "value": ["lastname", "jobtitle"]}],
    )
    assert patched["id"] == source_id
    run = stack.wait(stack.trigger(flow))
    summary = run["metrics"]["statusSummary"]
    assert summary["status"] == "success", summary
    assert [e["code"] for e in summary["errors"]] == ["CONNECTOR-3002-200", "CONNECTOR-3004-200"]
    assert "no longer read from the source" in summary["errors"][1]["message"]  # the columns not selected now
    contacts = source_rows(stack.emulator, "contacts", "contactid")
    assert run["metrics"]["recordSummary"]["inputRecordCount"] == len(contacts)
    assert {r["contactid"] for r in stack.dataset_rows(flow)} == set(contacts)
    again = stack.wait(stack.trigger(flow))
    assert again["metrics"]["recordSummary"]["inputRecordCount"] == 0  # incremental again
