"""Datasets, monitoring and about in Chromium against the real stack, with data landed by real runs.

Two flows run to success through the public API first (a merge flow on ``account``, an append flow on
``contact``); the pages must then show what the API and ``flowservice query`` say about the same datasets.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from flowservice.client import FlowServiceClient
from flowservice.demo import ORG
from tests.e2e.stack import Stack
from tests.ui.conftest import Browsing, open_browsing, serious_violations, sign_in

CATALOG = "/data/foundation/catalog"
PREVIEW = "/data/foundation/export/datasets/{}/preview"


@pytest.fixture(scope="module")
def landed(stack: Stack) -> dict[str, dict[str, Any]]:
    """A merge flow on ``account`` and an append flow on ``contact``, each run once to success."""
    conn = stack.connection()
    flows = {"merge": stack.flow(conn, "account", "merge"), "append": stack.flow(conn, "contact", "append")}
    for flow in flows.values():
        flow["run"] = stack.trigger(flow)
    for flow in flows.values():
        run = stack.wait(flow["run"])
        assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]
    return flows


def api_of(stack: Stack) -> FlowServiceClient:
    assert stack.api is not None
    return stack.api


def cell(value: Any) -> str:
    """How the preview table shows a JSON value (whitespace as a browser's innerText collapses it)."""
    return "null" if value is None else squeeze(str(value))


def squeeze(text: str) -> str:
    return " ".join(text.split())


def query_json(stack: Stack, sql: str) -> list[dict[str, Any]]:
    """``flowservice query … --output json`` against the server's own data dir."""
    assert stack.server is not None
    rows: list[dict[str, Any]] = json.loads(stack.server.cli("query", sql, "--org", ORG, "--output", "json"))
    return rows


def test_the_dataset_list_shows_rows_version_last_batch_and_the_flow_writing_each(
    browsing: Browsing, stack: Stack, landed: dict[str, dict[str, Any]]
) -> None:
    flow = landed["merge"]
    lake = api_of(stack).call("GET", f"{CATALOG}/dataSets/{flow['dataset']}")[flow["dataset"]]["lake"]
    page = browsing.page
    sign_in(browsing, stack, "/ui/s/prod/datasets")
    expect(page.get_by_role("heading", level=1)).to_have_text("Datasets")
    row = page.get_by_role("row").filter(has_text=flow["dataset"])
    expect(row.get_by_role("link", name=flow["name"], exact=True)).to_have_attribute(
        "href", f"/ui/s/prod/datasets/{flow['dataset']}"
    )
    cells = row.get_by_role("cell")
    expect(cells.nth(0)).to_have_text(f"{lake['rows']:,}")
    expect(cells.nth(1)).to_have_text(str(lake["version"]))
    expect(cells.nth(2)).to_contain_text("✓ success")
    expect(row.get_by_role("link", name=f"run of {flow['name']}")).to_have_attribute(
        "href", f"/ui/s/prod/runs/{flow['run']}"
    )
    expect(row.get_by_role("link", name="account merge")).to_have_attribute(
        "href", f"/ui/s/prod/dataflows/{flow['flow']}"
    )
    browsing.snap("datasets")
    assert serious_violations(page) == []


def test_the_preview_tab_shows_the_rows_of_the_preview_api_and_of_flowservice_query(
    browsing: Browsing, stack: Stack, landed: dict[str, dict[str, Any]]
) -> None:
    flow = landed["merge"]
    preview = api_of(stack).call("GET", PREVIEW.format(flow["dataset"]))
    queried = query_json(stack, f'SELECT * FROM "{flow["name"]}" LIMIT 100')
    assert len(preview["data"]) == len(queried) == 100
    assert [r["accountid"] for r in preview["data"]] == [r["accountid"] for r in queried]
    assert [r["name"] for r in preview["data"]] == [r["name"] for r in queried]
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/datasets/{flow['dataset']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Dataset {flow['name']}")
    table = page.locator("table.preview")
    expect(table.locator("caption")).to_have_text(f"First 100 rows of {flow['name']}")
    columns = [c["name"] for c in preview["columns"]]  # a merge dataset has no change columns to put first
    assert table.locator("thead th").all_inner_texts() == columns
    shown = [[squeeze(t) for t in row.locator("td").all_inner_texts()] for row in table.locator("tbody tr").all()]
    assert shown == [[cell(r.get(c)) for c in columns] for r in preview["data"]]
    nulls = sum(1 for r in preview["data"] for c in columns if r.get(c) is None)
    expect(table.locator("td .null")).to_have_count(nulls)
    browsing.snap("preview")
    assert serious_violations(page) == []
    # the column picker narrows the table through the query string
    page.get_by_text("Columns (").click()
    page.get_by_label("accountid", exact=True).check()
    page.get_by_label("name", exact=True).check()
    page.get_by_role("button", name="Show").click()
    expect(table.locator("thead th")).to_have_text(["accountid", "name"])
    assert "col=accountid" in page.url
    browsing.snap("two columns")


def test_an_append_dataset_previews_every_version_with_its_change_columns_styled(
    browsing: Browsing, stack: Stack, landed: dict[str, dict[str, Any]]
) -> None:
    flow = landed["append"]
    preview = api_of(stack).call("GET", PREVIEW.format(flow["dataset"]))
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/datasets/{flow['dataset']}?tab=preview")
    table = page.locator("table.preview")
    expect(table.locator("thead th").nth(0)).to_have_text("_change_type")  # the change columns come first
    expect(table.locator("th.change")).to_have_text(["_change_type", "_change_time"])
    expect(table.locator("tbody tr")).to_have_count(len(preview["data"]))
    expect(table.locator("tbody tr").first.locator("td.change").first).to_have_text("✓ upsert")
    browsing.snap("append preview")


def test_the_schema_tab_lists_the_delta_columns_and_the_batches_tab_links_each_batch_to_its_run(
    browsing: Browsing, stack: Stack, landed: dict[str, dict[str, Any]]
) -> None:
    flow = landed["merge"]
    api = api_of(stack)
    lake = api.call("GET", f"{CATALOG}/dataSets/{flow['dataset']}")[flow["dataset"]]["lake"]
    batches = api.call("GET", f"{CATALOG}/batches", params={"dataSet": flow["dataset"]})
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/datasets/{flow['dataset']}")
    page.get_by_role("link", name="Schema").click()
    columns = page.get_by_role("table").filter(has_text=f"columns of {flow['name']}")
    expect(columns.locator("tbody tr")).to_have_count(len(lake["columns"]))
    shown = [
        (row.locator("th").inner_text(), row.locator("td").inner_text().split(" ")[0])
        for row in columns.locator("tbody tr").all()
    ]
    assert shown == [(c["name"], c["type"]) for c in lake["columns"]]
    browsing.snap("schema")
    assert serious_violations(page) == []
    page.get_by_role("link", name="Batches").click()
    assert "tab=batches" in page.url
    rows = page.locator("table.batches tbody tr")
    expect(rows).to_have_count(len(batches))
    for batch_id, batch in batches.items():
        row = rows.filter(has_text=batch_id)
        expect(row.get_by_role("cell").nth(2)).to_have_text(f"{batch['recordCount']:,}")
        expect(row.get_by_role("link")).to_have_attribute("href", f"/ui/s/prod/runs/{flow['run']}")
    browsing.snap("batches")
    assert serious_violations(page) == []


def test_the_query_it_command_runs_and_returns_the_datasets_rows(
    browsing: Browsing, stack: Stack, landed: dict[str, dict[str, Any]]
) -> None:
    flow = landed["merge"]
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/datasets/{flow['dataset']}?tab=schema")
    command = page.locator("#query-command").inner_text()
    words = shlex.split(command)
    assert words[:2] == ["flowservice", "query"] and words[-4:] == ["--org", ORG, "--sandbox", "prod"]
    assert stack.server is not None
    rows = json.loads(stack.server.cli(*words[1:], "--output", "json"))
    assert [r["accountid"] for r in rows] == [r["accountid"] for r in query_json(stack, words[2])]
    assert len(rows) == 10
    expect(page.locator("#query-duckdb")).to_contain_text("delta_scan('$FLOWSERVICE_LAKE_ROOT/")
    expect(page.get_by_role("button", name="Copy command")).to_be_visible()
    browsing.snap("query it")


def test_the_dataset_preview_renders_without_javascript(
    browser: Browser, stack: Stack, landed: dict[str, dict[str, Any]]
) -> None:
    assert stack.server is not None
    flow = landed["merge"]
    tab = open_browsing(browser, stack.server.url, "dataset-without-js", java_script_enabled=False)
    try:
        sign_in(tab, stack, f"/ui/s/prod/datasets/{flow['dataset']}")
        expect(tab.page.locator("table.preview tbody tr")).to_have_count(100)
        tab.snap("preview without javascript")
    finally:
        tab.context.close()
    assert tab.aborted == []


def test_a_prod_dataset_opened_under_dev_is_a_404_page(
    browsing: Browsing, stack: Stack, landed: dict[str, dict[str, Any]]
) -> None:
    flow = landed["merge"]
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/dev/datasets/{flow['dataset']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_role("alert")).to_contain_text("404")
    browsing.go("/ui/s/dev/datasets")
    expect(page.get_by_text(flow["name"])).to_have_count(0)
    browsing.snap("dev datasets")


def a_failed_run(stack: Stack) -> dict[str, str]:
    """A flow on ``lead`` whose account's password is then made wrong, run once: it fails."""
    api = api_of(stack)
    conn = stack.connection()
    flow = stack.flow(conn, "lead", "merge")
    etag = api.item(f"/connections/{conn}")["etag"]
    ops = [{"op": "replace", "path": "/auth/params/password", "value": "not-the-password"}]
    assert api.patch(f"/connections/{conn}", json=ops, headers={"If-Match": etag}).status_code == 200
    run_id = stack.trigger(flow)
    run = stack.wait(run_id)
    assert run["metrics"]["statusSummary"]["status"] == "failed", run["metrics"]
    return {"run": run_id, "flow": flow["flow"], "flow_name": "lead merge"}


def runs_of_last(api: FlowServiceClient, seconds: int) -> list[dict[str, Any]]:
    since = int(time.time() * 1000) - seconds * 1000
    return list(api.items("/runs", {"property": f"metrics.durationSummary.startedAtUTC>={since}", "limit": "100"}))


def test_the_monitoring_tiles_equal_the_sums_over_the_runs_and_drill_down_to_runs(
    browsing: Browsing, stack: Stack, landed: dict[str, dict[str, Any]]
) -> None:
    api = api_of(stack)
    broken = a_failed_run(stack)
    runs = runs_of_last(api, 24 * 3600)
    assert len(runs) >= 3
    ingested = sum(r["metrics"]["recordSummary"]["outputRecordCount"] for r in runs)
    failed = sum(r["metrics"]["recordSummary"]["failedRecordCount"] for r in runs)
    failed_flows = {r["flowId"] for r in runs if r["metrics"]["statusSummary"]["status"] == "failed"}
    assert failed_flows == {broken["flow"]}
    page = browsing.page
    sign_in(browsing, stack, "/ui/s/prod/monitoring?range=24h")
    expect(page.get_by_role("heading", level=1)).to_have_text("Monitoring")
    expect(page.locator("#tile-ingested")).to_have_text(f"{ingested:,}")
    expect(page.locator("#tile-failed")).to_have_text(f"{failed:,}")
    expect(page.locator("#tile-failed-flows")).to_have_text(str(len(failed_flows)))
    expect(page.locator("#tile-runs")).to_have_text(f"{len(runs):,}")
    chart = page.get_by_role("img", name="Records per hour")
    expect(chart).to_have_attribute(
        "aria-label", re.compile(rf"^Records per hour over the last 24h: {ingested:,} ingested, {failed:,} failed")
    )
    assert 1 <= chart.locator("rect.bar-ingested").count() <= 2  # both runs, in one hour or across two
    browsing.snap("monitoring")
    assert serious_violations(page) == []
    page.get_by_role("link", name="Microsoft Dynamics").click()
    expect(page.get_by_role("heading", name="Dataflows of Microsoft Dynamics")).to_be_visible()
    merge = landed["merge"]
    flow_row = page.get_by_role("row").filter(has_text="account merge")
    merge_runs = [r for r in runs if r["flowId"] == merge["flow"]]
    expect(flow_row.get_by_role("cell").nth(0)).to_have_text(
        f"{sum(r['metrics']['recordSummary']['outputRecordCount'] for r in merge_runs):,}"
    )
    browsing.snap("dataflows of a source")
    flow_row.get_by_role("link", name="account merge").click()
    expect(page.get_by_role("link", name=merge["run"])).to_have_attribute("href", f"/ui/s/prod/runs/{merge['run']}")
    expect(page.get_by_role("link", name="Open the dataflow account merge")).to_have_attribute(
        "href", f"/ui/s/prod/dataflows/{merge['flow']}"
    )
    browsing.snap("runs of a dataflow")
    assert serious_violations(page) == []
    page.get_by_role("link", name="Show failures only").click()
    expect(page.get_by_role("row").filter(has_text=merge["run"])).to_have_count(0)
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Microsoft Dynamics").click()
    expect(page.get_by_role("row").filter(has_text="account merge")).to_have_count(0)  # failures only
    page.get_by_role("link", name=broken["flow_name"]).click()
    expect(page.get_by_role("row").filter(has_text=broken["run"])).to_contain_text("✗ failed")
    browsing.snap("a failed run")
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Monitoring").click()
    expect(page.locator("#tile-ingested")).to_have_text(f"{ingested:,}")
    page.get_by_role("link", name="Last 7d").click()
    assert "range=7d" in page.url
    expect(page.locator("#tile-ingested")).to_have_text(f"{ingested:,}")
    browsing.snap("seven days")


def test_the_about_page_names_the_api_the_session_and_the_server_version(browsing: Browsing, stack: Stack) -> None:
    assert stack.server is not None
    version = api_of(stack).http.get(stack.server.url + "/openapi.json").json()["info"]["version"]
    page = browsing.page
    sign_in(browsing, stack, "/ui/s/prod/about")
    expect(page.get_by_role("heading", level=1)).to_have_text("About this connection")
    expect(page.locator("#about-api-url")).to_have_text(stack.server.url)
    expect(page.locator("#about-version")).to_have_text(version)
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text(ORG)
    expect(facts).to_contain_text(stack.credentials["client_id"])
    expect(facts.locator("time")).to_have_count(1)
    expect(page.get_by_role("link", name="OpenAPI document")).to_have_attribute(
        "href", stack.server.url + "/openapi.json"
    )
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link", name="About")).to_have_attribute(
        "aria-current", "page"
    )
    browsing.snap("about")
    assert serious_violations(page) == []
