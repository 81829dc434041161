"""A run asked for a full refresh (``params.fullRefresh``) reads the table in full, exactly once even when it
is interrupted and re-triggered: its second attempt continues its own read instead of starting again."""

from __future__ import annotations

import pyarrow as pa

from tests.integration.engine.conftest import Harness


def test_a_full_refresh_interrupted_after_a_commit_and_re_triggered_backfills_every_row_once(
    harness: Harness,
) -> None:
    table = harness.org.add_table("account", rows=60)
    flow = harness.flow("account")
    harness.run(flow)
    table.columns["tier"] = pa.string()  # added in the org: every row has a value, no row changed
    for row in table.rows.values():
        row["tier"] = "gold"
    drifted = harness.run(flow)
    assert drifted["metrics"]["recordSummary"]["inputRecordCount"] == 0
    assert {r["tier"] for r in harness.dataset(flow)} == {None}

    harness.org.faults.pages_served, harness.org.faults.fail_after_pages = 0, 3  # one commit of 25 rows lands
    created = harness.api.post("/runs", json={"flowId": flow.id, "params": {"fullRefresh": True}})
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    assert harness.container.worker().run_once()
    failed = harness.api.get(f"/runs/{run_id}").json()["items"][0]
    assert failed["metrics"]["statusSummary"]["status"] == "failed"
    assert harness.api.post(f"/runs/{run_id}/action", params={"op": "re-trigger"}).status_code == 200
    assert harness.container.worker().run_once()

    run = harness.api.get(f"/runs/{run_id}").json()["items"][0]
    metrics = run["metrics"]
    assert metrics["statusSummary"]["status"] == "success", metrics["statusSummary"]
    # why it read in full, and that it was resumed (so it read the keys again, to find the source's deletes)
    assert [e["code"] for e in metrics["statusSummary"]["errors"]] == ["CONNECTOR-3005-200", "CONNECTOR-3001-200"]
    assert metrics["recordSummary"]["inputRecordCount"] == 60  # the retry continued; nothing read twice
    assert metrics["recordSummary"]["outputRecordCount"] == 60
    rows = harness.dataset(flow)
    assert sorted(r["accountid"] for r in rows) == sorted(table.rows)  # each row once
    assert {r["tier"] for r in rows} == {"gold"}

    after = harness.run(flow)
    assert after["metrics"]["recordSummary"]["inputRecordCount"] == 0
    assert not after["metrics"]["statusSummary"]["extensions"]["fullResync"]
