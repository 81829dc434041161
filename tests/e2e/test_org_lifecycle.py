"""Through the emulator: an org reset behind the same address (new organization id and version, old delta
tokens refused) makes the next run read in full, so the dataset equals the new org and the run says why; a
refused delta token alone does the same and names Dataverse's answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import Stack, server_env, source_rows


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    emulator = start_emulator(scale=150, seed=21, crm_semantics=True)
    stack = Stack(emulator, tmp_path / "server", server_env(emulator, FLOWSERVICE_COMMIT_EVERY_ROWS="60"))
    stack.start()
    yield stack
    stack.stop()


def test_after_an_org_reset_the_flow_resyncs_fully_and_the_run_says_the_org_changed(stack: Stack) -> None:
    flow = stack.flow(stack.connection(), "account", "merge")
    assert stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]["status"] == "success"
    emulator = stack.emulator
    with httpx.Client(base_url=emulator.org_url, verify=emulator.verify, timeout=30) as admin:
        reset = admin.post("/_emulator/org/reset", json={"kind": "restore"})
        assert reset.status_code == 200, reset.text
    with emulator.client() as client:  # the restored org differs from what was landed
        for row_id in sorted(source_rows(emulator, "accounts", "accountid"))[:7]:
            client.delete(f"accounts({row_id})").raise_for_status()
        client.post("accounts", json={"name": "only in the restored org"}).raise_for_status()
    run = stack.wait(stack.trigger(flow))
    summary = run["metrics"]["statusSummary"]
    assert summary["status"] == "success", summary
    assert summary["extensions"]["fullResync"] is True
    assert [e["code"] for e in summary["errors"]] == ["CONNECTOR-3002-200"]
    assert "(orgId, orgVersion)" in summary["errors"][0]["message"]
    assert run["metrics"]["recordSummary"]["deletedRecordCount"] == 7
    landed = {r["accountid"] for r in stack.dataset_rows(flow)}
    assert landed == set(source_rows(emulator, "accounts", "accountid"))
    assert "only in the restored org" in {r["name"] for r in stack.dataset_rows(flow)}
    again = stack.wait(stack.trigger(flow))  # the cursor is the new org's: incremental again
    assert again["metrics"]["recordSummary"]["inputRecordCount"] == 0
    assert again["metrics"]["statusSummary"]["errors"] == []


def test_a_refused_delta_token_resyncs_fully_and_the_run_quotes_the_refusal(stack: Stack) -> None:
    flow = stack.flow(stack.connection(), "contact", "merge")
    assert stack.wait(stack.trigger(flow))["metrics"]["statusSummary"]["status"] == "success"
    stack.emulator.set_faults([{"kind": "expired_delta_token", "table": "contact", "count": 1}])
    try:
        run = stack.wait(stack.trigger(flow))
    finally:
        stack.emulator.clear_faults()
    summary = run["metrics"]["statusSummary"]
    assert summary["status"] == "success" and summary["extensions"]["fullResync"] is True
    assert [e["code"] for e in summary["errors"]] == ["CONNECTOR-3003-200"]
    assert "refused the change token of contact" in summary["errors"][0]["message"]
    assert "0x80044352" in summary["errors"][0]["message"] or "expired" in summary["errors"][0]["message"]
    landed = {r["contactid"] for r in stack.dataset_rows(flow)}
    assert landed == set(source_rows(stack.emulator, "contacts", "contactid"))
