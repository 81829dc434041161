"""Through the emulator: columns added, deleted or widened in the org between two runs. The next run describes
the table from fresh metadata, lands the new column, keeps the deleted one as a nullable column, widens the
widened one in place, and says each change once in its document (a note and the copy activity's
``schemaChanges``). An explore shows such a change within its minute of cached metadata (here none)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from flowservice.demo import ORG
from tests.e2e.stack import Stack, iso, server_env, source_rows


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    emulator = start_emulator(scale=80, seed=31)
    # explore without its minute of cached metadata, so a change shows at once (a unit test covers the minute)
    env = server_env(emulator, FLOWSERVICE_DYNAMICS_EXPLORE_METADATA_SECONDS="0")
    stack = Stack(emulator, tmp_path / "server", env)
    stack.start()
    yield stack
    stack.stop()


def change_metadata(stack: Stack, body: dict[str, object]) -> None:
    emulator = stack.emulator
    with httpx.Client(base_url=emulator.org_url, verify=emulator.verify, timeout=30) as admin:
        answer = admin.post("/_emulator/metadata/account", json=body)
        assert answer.status_code == 200, answer.text


def test_a_column_added_and_one_deleted_in_the_org_show_in_the_dataset_and_the_run_on_the_next_run(
    stack: Stack,
) -> None:
    flow = stack.flow(stack.connection(), "account", "merge")
    assert stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]["status"] == "success"
    before = {r["accountid"]: r for r in stack.dataset_rows(flow)}
    assert "cr6f1_tier" not in next(iter(before.values()))
    change_metadata(stack, {"op": "add", "column": "cr6f1_tier", "type": "String", "max_length": 20, "values": ["A"]})
    change_metadata(stack, {"op": "delete", "column": "telephone1"})
    touched = sorted(source_rows(stack.emulator, "accounts", "accountid"))[0]
    with stack.emulator.client() as client:
        client.patch(f"accounts({touched})", json={"name": "drifted"}).raise_for_status()

    run = stack.wait(stack.trigger(flow))
    summary = run["metrics"]["statusSummary"]
    assert summary["status"] == "success", summary
    [note] = summary["errors"]
    assert note["code"] == "CONNECTOR-3004-200"
    assert "cr6f1_tier added" in note["message"] and "telephone1 no longer read" in note["message"]
    copy = next(a for a in run["activities"] if a["id"] == "copyActivity")
    assert copy["statusSummary"]["extensions"]["schemaChanges"] == [
        {"column": "cr6f1_tier", "change": "added", "type": "string"},
        {"column": "telephone1", "change": "gone"},
    ]
    after = {r["accountid"]: r for r in stack.dataset_rows(flow)}
    assert set(after) == set(before)
    assert after[touched]["cr6f1_tier"] == "A" and after[touched]["name"] == "drifted"
    assert after[touched]["telephone1"] is None  # the deleted column stays, null in rows written since
    untouched = [k for k in after if k != touched]
    assert all(after[k]["cr6f1_tier"] is None for k in untouched)  # until they are read again
    assert [after[k]["telephone1"] for k in untouched] == [before[k]["telephone1"] for k in untouched]

    again = stack.wait(stack.trigger(flow))  # said once
    assert again["metrics"]["statusSummary"]["errors"] == []
    copy = next(a for a in again["activities"] if a["id"] == "copyActivity")
    assert "schemaChanges" not in copy["statusSummary"]["extensions"]


def test_an_explore_shows_a_column_added_in_the_org_a_moment_ago_and_not_one_deleted(stack: Stack) -> None:
    api = stack.api
    assert api is not None
    connection = stack.connection()
    explore = f"/connections/{connection}/explore"

    def columns() -> set[str]:
        described = api.call("GET", explore, params={"objectType": "table", "object": "account", "preview": "true"})
        names = {c["name"] for c in described["schema"]["columns"]}
        assert set(described["data"][0]) <= names
        return names

    before = columns()  # described now: runs and source connections take this from the cache for 15 minutes
    assert "cr6f1_tier" not in before and "telephone1" in before
    change_metadata(stack, {"op": "add", "column": "cr6f1_tier", "type": "String", "max_length": 20, "values": ["A"]})
    change_metadata(stack, {"op": "delete", "column": "telephone1"})
    after = columns()
    assert after == (before - {"telephone1"}) | {"cr6f1_tier"}


def test_a_column_widened_in_the_org_is_widened_in_the_dataset_in_place_with_its_values(stack: Stack) -> None:
    flow = stack.flow(stack.connection(), "account", "merge")
    assert stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]["status"] == "success"
    before = {r["accountid"]: r["numberofemployees"] for r in stack.dataset_rows(flow)}
    assert any(v is not None for v in before.values())
    change_metadata(stack, {"op": "widen", "column": "numberofemployees", "type": "BigInt"})
    run = stack.wait(stack.trigger(flow))
    summary = run["metrics"]["statusSummary"]
    assert summary["status"] == "success", summary
    assert [e["code"] for e in summary["errors"]] == ["CONNECTOR-3004-200"]
    assert "numberofemployees (integer to int64) widened in place" in summary["errors"][0]["message"]
    assert stack.api is not None
    dataset = stack.api.call("GET", f"/data/foundation/catalog/dataSets/{flow['dataset']}")[flow["dataset"]]
    schema = DeltaTable(str(stack.data_dir / "lake" / dataset["lake"]["path"])).schema().to_arrow()
    assert pa.schema(schema).field("numberofemployees").type == pa.int64()
    assert {r["accountid"]: r["numberofemployees"] for r in stack.dataset_rows(flow)} == before
    again = stack.wait(stack.trigger(flow))
    assert again["metrics"]["statusSummary"]["errors"] == []


def tiers_at_source(stack: Stack) -> dict[str, tuple[str, object]]:
    """Every account in the emulator: key → (modifiedon, cr6f1_tier)."""
    rows: dict[str, tuple[str, object]] = {}
    with stack.emulator.client() as client:
        url: str | None = "accounts?$select=accountid,modifiedon,cr6f1_tier"
        while url:
            page = client.get(url, headers={"Prefer": "odata.maxpagesize=5000"}).json()
            rows.update({r["accountid"]: (iso(r["modifiedon"]), r["cr6f1_tier"]) for r in page["value"]})
            url = page.get("@odata.nextLink")
    return rows


def digest(rows: dict[str, tuple[str, object]]) -> str:
    return hashlib.sha256("\n".join(f"{k},{m},{t}" for k, (m, t) in sorted(rows.items())).encode()).hexdigest()


def test_a_run_asked_for_a_full_refresh_backfills_an_added_column_and_the_run_after_is_incremental_again(
    stack: Stack,
) -> None:
    flow = stack.flow(stack.connection(), "account", "merge")
    assert stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]["status"] == "success"
    change_metadata(
        stack, {"op": "add", "column": "cr6f1_tier", "type": "String", "max_length": 20, "values": ["A", "B"]}
    )
    drifted = stack.wait(stack.trigger(flow))
    assert [e["code"] for e in drifted["metrics"]["statusSummary"]["errors"]] == ["CONNECTOR-3004-200"]
    assert {r["cr6f1_tier"] for r in stack.dataset_rows(flow)} == {None}  # added, null in the rows landed before

    doomed = sorted(source_rows(stack.emulator, "accounts", "accountid"))[:3]
    with stack.emulator.client() as client:
        for row_id in doomed:
            client.delete(f"accounts({row_id})").raise_for_status()
    assert stack.api is not None
    refresh = stack.wait(stack.api.start_run(flow["flow"], full_refresh=True))
    metrics = refresh["metrics"]
    assert refresh["params"] == {"fullRefresh": True}
    assert metrics["statusSummary"]["status"] == "success", metrics["statusSummary"]
    assert metrics["statusSummary"]["extensions"]["fullResync"] is True
    [note] = metrics["statusSummary"]["errors"]
    assert note["code"] == "CONNECTOR-3005-200" and note["message"].startswith("Full refresh requested")
    source = tiers_at_source(stack)
    assert metrics["recordSummary"]["inputRecordCount"] == len(source)  # every row read again
    assert metrics["recordSummary"]["deletedRecordCount"] == 3  # the deletes, found by the anti-join
    landed_rows = stack.dataset_rows(flow)
    landed = {r["accountid"]: (iso(r["modifiedon"]), r["cr6f1_tier"]) for r in landed_rows}
    assert len(landed_rows) == len(landed) == len(source) and not set(doomed) & set(landed)
    assert {t for _, t in landed.values()} <= {"A", "B"} and None not in {t for _, t in source.values()}
    assert digest(landed) == digest(source)

    after = stack.wait(stack.trigger(flow))
    assert after["params"] == {}
    summary = after["metrics"]["statusSummary"]
    assert summary["status"] == "success" and summary["errors"] == [] and not summary["extensions"]["fullResync"]
    assert after["metrics"]["recordSummary"]["inputRecordCount"] == 0  # incremental: nothing changed since


def test_flowservice_runs_start_with_full_refresh_queues_a_run_that_reads_the_table_in_full(stack: Stack) -> None:
    flow = stack.flow(stack.connection(), "account", "merge")
    assert stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]["status"] == "success"
    command = [sys.executable, "-m", "flowservice", "runs", "start", flow["flow"], "--org", ORG, "--full-refresh"]
    env = {**os.environ, **stack.env}
    done = subprocess.run([*command, "--data-dir", str(stack.data_dir)], env=env, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    queued = json.loads(done.stdout)
    assert queued["params"] == {"fullRefresh": True}
    run = stack.wait(queued["id"])
    summary = run["metrics"]["statusSummary"]
    assert summary["status"] == "success" and summary["extensions"]["fullResync"] is True
    assert [e["code"] for e in summary["errors"]] == ["CONNECTOR-3005-200"]
    assert run["metrics"]["recordSummary"]["inputRecordCount"] == len(
        source_rows(stack.emulator, "accounts", "accountid")
    )
