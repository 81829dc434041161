"""Runs end to end through the API and the engine: exact data, increments with deletes, exactly once."""

from __future__ import annotations

import decimal

import pytest

from tests.fakes.source import make_row, ts
from tests.integration.engine.conftest import STALE_SECONDS, Harness


def keyed(rows: list[dict], key: str) -> dict[str, dict]:
    return {r[key]: r for r in rows}


def test_a_first_run_lands_every_row_with_exact_values(harness: Harness) -> None:
    table = harness.org.add_table("account", rows=95)
    flow = harness.flow("account")
    run = harness.run(flow)
    landed = keyed(harness.dataset(flow), "accountid")
    assert landed == table.rows
    summary = run["metrics"]["recordSummary"]
    assert summary["inputRecordCount"] == 95 and summary["outputRecordCount"] == 95
    assert run["metrics"]["durationSummary"]["completedAtUTC"] >= run["metrics"]["durationSummary"]["startedAtUTC"]
    batch_id = run["activities"][1]["targetInfo"][0]["reference"]["ids"][0]
    batch = harness.api.get(f"/data/foundation/catalog/batches/{batch_id}").json()[batch_id]
    assert batch["status"] == "success" and batch["recordCount"] == 95 and batch["dataSet"] == flow.dataset_id


def test_merge_applies_creates_updates_and_deletes_of_the_next_run(harness: Harness) -> None:
    table = harness.org.add_table("account", rows=40)
    flow = harness.flow("account")
    harness.run(flow)
    table.upsert(make_row(table, 1000, modified=500))
    changed = dict(table.rows["00000003-0000-0000-0000-000000000000"], name="renamed", modifiedon=ts(600))
    table.upsert(changed)
    table.delete("00000005-0000-0000-0000-000000000000")
    run = harness.run(flow)
    assert keyed(harness.dataset(flow), "accountid") == table.rows
    assert run["metrics"]["recordSummary"]["inputRecordCount"] == 2
    assert run["metrics"]["recordSummary"]["deletedRecordCount"] == 1


def test_append_keeps_each_new_version_and_each_delete(harness: Harness) -> None:
    table = harness.org.add_table("contact", rows=12)
    flow = harness.flow("contact", mode="append")
    harness.run(flow)
    key = "00000002-0000-0000-0000-000000000000"
    table.upsert(dict(table.rows[key], name="v2", modifiedon=ts(900)))
    table.delete("00000004-0000-0000-0000-000000000000")
    harness.run(flow)
    rows = harness.dataset(flow)
    assert len(rows) == 12 + 2
    versions = [r for r in rows if r["contactid"] == key]
    assert sorted(r["name"] for r in versions) == ["contact 2", "v2"]
    deletes = [r for r in rows if r["_change_type"] == "delete"]
    assert [r["contactid"] for r in deletes] == ["00000004-0000-0000-0000-000000000000"]


@pytest.mark.parametrize("mode", ["merge", "append"])
def test_watermark_tables_lose_nothing_and_repeat_nothing_on_shared_timestamps(harness: Harness, mode: str) -> None:
    table = harness.org.add_table("cr6f1_project", change_tracking=False, rows=30)  # 3 rows per modifiedon
    flow = harness.flow("cr6f1_project", mode=mode)
    harness.run(flow)
    # a new row sharing the last watermark second, and one later
    table.upsert(make_row(table, 500, modified=9))
    table.upsert(make_row(table, 501, modified=50))
    harness.run(flow)
    rows = harness.dataset(flow)
    ids = [r["cr6f1_projectid"] for r in rows]
    assert sorted(set(ids)) == sorted(table.rows)
    if mode == "append":
        assert len(ids) == len(set(ids)) == 32  # nothing appended twice across the inclusive boundary
    else:
        assert keyed(rows, "cr6f1_projectid") == table.rows


def test_a_run_that_fails_mid_read_resumes_on_retrigger_without_duplicates(harness: Harness) -> None:
    table = harness.org.add_table("contact", rows=100)
    flow = harness.flow("contact", mode="append")
    harness.org.faults.fail_after_pages = 6  # two commits of 25 rows land, then the source breaks
    failed = harness.run(flow, expect="failed")
    assert failed["metrics"]["statusSummary"]["errors"][0]["code"].startswith("CONNECTOR-")
    partial = harness.dataset(flow)
    assert 0 < len(partial) < 100
    retried = harness.api.post(f"/runs/{failed['id']}/action", params={"op": "re-trigger"})
    assert retried.status_code == 200, retried.text
    assert harness.container.worker().run_once()
    run = harness.api.get(f"/runs/{failed['id']}").json()["items"][0]
    assert run["metrics"]["statusSummary"]["status"] == "success"
    rows = harness.dataset(flow)
    assert sorted(r["contactid"] for r in rows) == sorted(table.rows)
    assert run["metrics"]["recordSummary"]["outputRecordCount"] == 100


def test_only_failed_runs_can_be_retriggered(harness: Harness) -> None:
    harness.org.add_table("account", rows=3)
    flow = harness.flow("account")
    run = harness.run(flow)
    response = harness.api.post(f"/runs/{run['id']}/action", params={"op": "re-trigger"})
    assert response.status_code == 400
    assert "only retry dataflow runs that have failed" in response.json()["errorMessage"]


def test_an_expired_delta_token_triggers_a_full_resync_that_also_finds_deletes(harness: Harness) -> None:
    table = harness.org.add_table("account", rows=20)
    flow = harness.flow("account")
    harness.run(flow)
    table.delete("00000007-0000-0000-0000-000000000000")
    table.log.clear()  # the change log no longer covers our token
    harness.org.faults.expire_delta_token = True
    run = harness.run(flow)
    assert run["metrics"]["statusSummary"]["extensions"]["fullResync"] is True
    assert keyed(harness.dataset(flow), "accountid") == table.rows


def test_mapping_transforms_columns_and_keeps_the_key_for_merge(harness: Harness) -> None:
    table = harness.org.add_table("account", rows=5)
    flow = harness.flow(
        "account",
        mapping=[
            {"sourceType": "ATTRIBUTE", "source": "accountid", "destination": "id"},
            {"sourceType": "EXPRESSION", "source": "upper(name)", "destination": "label"},
            {"sourceType": "STATIC", "source": "dynamics", "destination": "origin"},
            {"sourceType": "ATTRIBUTE", "source": "revenue", "destination": "money.revenue"},
        ],
    )
    harness.run(flow)
    rows = keyed(harness.dataset(flow), "id")
    first = rows["00000001-0000-0000-0000-000000000000"]
    assert first["label"] == "ACCOUNT 1" and first["origin"] == "dynamics"
    assert first["money"] == {"revenue": decimal.Decimal("0.2500")}
    assert len(rows) == len(table.rows)


def test_rows_without_a_key_are_counted_failed_and_readable_as_errors(harness: Harness) -> None:
    table = harness.org.add_table("account", rows=10)
    table.rows["bad"] = dict(make_row(table, 99, modified=1), accountid=None)
    flow = harness.flow("account")
    run = harness.run(flow, expect="partialSuccess")
    assert run["metrics"]["recordSummary"]["failedRecordCount"] == 1
    errors = harness.api.get(f"/runs/{run['id']}/errors").json()
    assert errors["errors"][0]["code"] == "INGEST-1201-400"
    assert len(harness.dataset(flow)) == 10


def test_failures_within_the_partial_ingestion_threshold_still_succeed(harness: Harness) -> None:
    table = harness.org.add_table("account", rows=10)
    table.rows["bad"] = dict(make_row(table, 99, modified=1), accountid=None)
    flow = harness.flow("account", options={"partialIngestionPercent": 20})
    harness.run(flow, expect="success")


def test_a_worker_that_dies_mid_run_is_taken_over_and_the_run_resumes(harness: Harness) -> None:
    table = harness.org.add_table("account", rows=60)
    flow = harness.flow("account", mode="append")
    created = harness.api.post("/runs", json={"flowId": flow.id}).json()
    queue = harness.container.queue
    dead = queue.claim("dead-worker", stale_after_seconds=STALE_SECONDS)  # claims, then never heart-beats again
    assert dead is not None and dead.run_id == created["id"]
    assert queue.claim("other", stale_after_seconds=STALE_SECONDS) is None  # still fresh: nobody steals it
    import time

    time.sleep(STALE_SECONDS + 0.2)
    assert harness.container.worker().run_once()
    run = harness.api.get(f"/runs/{created['id']}").json()["items"][0]
    assert run["metrics"]["statusSummary"]["status"] == "success"
    rows = harness.dataset(flow)
    assert sorted(r["accountid"] for r in rows) == sorted(table.rows)


def test_query_reads_datasets_by_name_with_duckdb(harness: Harness) -> None:
    harness.org.add_table("account", rows=9)
    flow = harness.flow("account")
    harness.run(flow)
    result = harness.container.query(harness.api.org, "prod", f'SELECT count(*) AS n FROM "{flow.dataset_name}"')
    assert result.to_pylist() == [{"n": 9}]
