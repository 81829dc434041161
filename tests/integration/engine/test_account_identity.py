"""The account behind a connection is part of a cursor's identity: when the source reports another one (an org
copied, reset or restored behind the same address), the run reads in full, deletes what the account lacks and
says why; a commit written before the source reported it is not taken as another account."""

from __future__ import annotations

from tests.fakes.source import make_row
from tests.integration.engine.conftest import Harness


def test_a_changed_account_identity_makes_the_run_read_in_full_and_say_which_field_changed(harness: Harness) -> None:
    table = harness.org.add_table("account", rows=30)
    harness.org.account = {"orgId": "a", "orgVersion": "9.2.1"}
    flow = harness.flow("account")
    harness.run(flow)
    for key in sorted(table.rows)[:5]:
        table.delete(key)
    table.log.clear()  # the new org's change log knows nothing of the old one's token
    table.upsert(make_row(table, 500, modified=500))
    harness.org.account = {"orgId": "b", "orgVersion": "9.2.2"}
    run = harness.run(flow)
    assert {r["accountid"] for r in harness.dataset(flow)} == set(table.rows)
    summary = run["metrics"]["statusSummary"]
    assert summary["extensions"]["fullResync"] is True
    assert run["metrics"]["recordSummary"]["deletedRecordCount"] == 5
    assert [n["code"] for n in summary["errors"]] == ["CONNECTOR-3002-200"]
    assert "(orgId, orgVersion)" in summary["errors"][0]["message"]
    again = harness.run(flow)  # the cursor is the new account's now: incremental, no note
    assert again["metrics"]["recordSummary"]["inputRecordCount"] == 0
    assert again["metrics"]["statusSummary"]["errors"] == []


def test_a_commit_from_before_the_source_reported_its_account_is_resumed_as_before(harness: Harness) -> None:
    table = harness.org.add_table("account", rows=20)
    flow = harness.flow("account")
    harness.run(flow)  # the account reported nothing then
    table.upsert(make_row(table, 300, modified=300))
    harness.org.account = {"orgId": "a"}
    run = harness.run(flow)
    assert run["metrics"]["recordSummary"]["inputRecordCount"] == 1
    assert run["metrics"]["statusSummary"]["extensions"]["fullResync"] is False
    assert run["metrics"]["statusSummary"]["errors"] == []
