"""The dataflow wizard in Chromium against the real stack (the emulator and ``flowservice serve``): explore →
details → mapping (validate, preview) → schedule (the API's minimum, local time) → review → the create
checklist, a failed call and its retry without duplicates, and the first run landing rows.

Assertions are on roles and text; each named step leaves a screenshot in test-results/ui/.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, expect

from flowservice.client import FlowServiceClient
from tests.e2e.stack import Stack
from tests.ui.conftest import open_browsing, serious_violations, sign_in
from tests.ui.test_browser import a_connection

DATASET = "wizard_accounts"


def count(api: FlowServiceClient, path: str) -> int:
    return int(api.call("GET", path, params={"count": "true"})["count"])


def dataset_id(api: FlowServiceClient, name: str) -> str | None:
    found = api.call("GET", "/data/foundation/catalog/dataSets", params={"name": name})
    return next(iter(found), None)


def test_the_wizard_creates_a_flow_whose_first_run_lands_rows_and_a_retry_makes_no_duplicate(
    browser: Browser, stack: Stack
) -> None:
    api = stack.api
    assert api is not None and stack.server is not None
    conn = a_connection(stack, name="Wizard account")
    api.create_dataset(DATASET)  # taken: the first create stops at POST /dataSets
    sources_before = count(api, "/sourceConnections")
    tab = open_browsing(browser, stack.server.url, "wizard-single-table", timezone_id="Europe/Paris")
    page = tab.page
    try:
        sign_in(tab, stack, f"/ui/s/prod/accounts/{conn}/explore?q=account")
        page.get_by_label("Select Account (account)").check()
        page.get_by_role("button", name="Create dataflow from the checked tables").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("New dataflow: details")
        assert "tables=account" in page.url and "step=details" in page.url
        tab.snap("details")
        assert serious_violations(page) == []
        page.get_by_label("New dataset's name").fill(DATASET)
        page.get_by_label("Partial ingestion").check()
        page.get_by_label("Error threshold (% of rows)").fill("10")
        page.get_by_label("Dataflow name").fill("Wizard accounts")
        page.get_by_role("button", name="Next: mapping").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("New dataflow: mapping")
        expect(page.locator("#mapping-counters")).to_contain_text("unmapped 0")
        page.get_by_label("Source of new field 1").fill("lower(trim(nmae))")
        page.get_by_label("Destination of new field 1").fill("label")
        page.get_by_role("button", name="Validate").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("unknown source column 'nmae'")
        expect(alert).to_be_focused()
        tab.snap("mapping refused")
        page.get_by_label("With errors").check()
        expect(page.locator("#mapping-rows > tr[data-state=error]:visible")).to_have_count(1)
        expect(page.locator("#mapping-rows > tr[data-state=mapped]:visible")).to_have_count(0)
        page.get_by_label("All", exact=True).check()
        page.get_by_label(re.compile(r"^Source of row \d+$")).last.fill("lower(trim(name))")
        page.get_by_role("button", name="Preview mapped data").click()
        mapped = page.locator("#preview-mapped")
        expect(mapped.locator("thead")).to_contain_text("label")
        expect(page.locator("#preview-source tbody tr")).to_have_count(10)
        label = mapped.locator("thead th").all_inner_texts().index("label")
        values = mapped.locator(f"tbody tr td:nth-child({label + 1})").all_inner_texts()
        assert values and all(v == v.lower().strip() for v in values)
        tab.snap("mapping preview")
        assert serious_violations(page) == []
        page.get_by_role("button", name="Next: scheduling").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("New dataflow: scheduling")
        page.get_by_label("Frequency").select_option("minute")
        page.get_by_label(re.compile("^Interval")).fill("10")
        page.get_by_role("button", name="Next: review").click()
        expect(page.get_by_role("alert")).to_contain_text(
            "scheduleParams.interval must be at least 15 when frequency is minute, got 10"
        )
        tab.snap("interval refused")
        page.get_by_label(re.compile("^Interval")).fill("15")
        page.get_by_role("button", name="Show the next runs").click()
        first = page.locator("table.next-runs tbody tr").first
        utc = dt.datetime.fromisoformat(first.locator("td").nth(0).inner_text().replace("Z", "+00:00"))
        paris = utc.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m-%dT%H:%M")
        assert paris != utc.strftime("%Y-%m-%dT%H:%M")  # the browser's zone is not UTC
        expect(first.locator("td").nth(1)).to_have_text(f"{paris} (Europe/Paris)")
        expect(page.locator("table.next-runs tbody tr")).to_have_count(5)
        tab.snap("next runs")
        assert serious_violations(page) == []
        page.get_by_label("Frequency").select_option("once")  # one run, now: its rows land during the test
        page.get_by_role("button", name="Next: review").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("New dataflow: review")
        expect(page.get_by_role("link", name="Edit mapping")).to_be_visible()
        tab.snap("review")
        assert serious_violations(page) == []
        page.get_by_role("button", name="Create dataflow").click()
        checklist = page.locator("table.create-checklist")
        expect(checklist).to_contain_text("✗ Failed")
        expect(page.get_by_role("alert")).to_contain_text(DATASET)
        tab.snap("create failed")
        assert count(api, "/sourceConnections") == sources_before + 1
        taken = dataset_id(api, DATASET)
        assert taken is not None
        api.call("DELETE", f"/data/foundation/catalog/dataSets/{taken}")

        page.get_by_role("button", name="Retry").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Dataflow created")
        rows = page.locator("table.create-checklist tbody tr")
        expect(rows).to_have_count(5)
        for call in ("/sourceConnections", "/catalog/dataSets", "/targetConnections", "/mappingSets", "/flows"):
            expect(rows.filter(has_text=call)).to_contain_text("✓ Done")
        tab.snap("created")
        assert serious_violations(page) == []
        assert count(api, "/sourceConnections") == sources_before + 1  # the retry kept the first one

        [flow] = [f for f in api.items("/flows") if f["name"] == "Wizard accounts"]
        assert flow["options"] == {"errorDiagnosticsEnabled": True, "partialIngestionPercent": 10.0}
        assert flow["scheduleParams"]["frequency"] == "once"
        target = api.item(f"/targetConnections/{flow['targetConnectionIds'][0]}")
        assert target["params"] == {"dataSetId": dataset_id(api, DATASET), "writeMode": "merge"}
        mapping_id = flow["transformations"][1]["params"]["mappingId"]
        mappings = api.call("GET", f"/data/foundation/conversion/mappingSets/{mapping_id}")["mappings"]
        assert {"sourceType": "EXPRESSION", "source": "lower(trim(name))", "destination": "label"} in mappings

        run_link = page.get_by_role("link", name=re.compile(r"^run "))
        expect(run_link).to_be_visible(timeout=30_000)  # the first run, found by the page's polling
        run_id = run_link.inner_text().removeprefix("run ")
        assert run_link.get_attribute("href") == f"/ui/s/prod/runs/{run_id}"
        [listed] = api.call("GET", "/runs", params={"property": f"flowId=={flow['id']}"})["items"]
        assert listed["id"] == run_id
        run = stack.wait(run_id)
        assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]
        assert run["metrics"]["recordSummary"]["outputRecordCount"] > 0
        assert page.get_by_role("link", name=f"open dataflow {flow['id']}").get_attribute("href") == (
            f"/ui/s/prod/dataflows/{flow['id']}"
        )
    finally:
        tab.context.close()
    assert tab.aborted == []
    assert [e for e in tab.console_errors if "Failed to load resource" not in e] == []


def test_two_checked_tables_make_two_flows_through_forms_alone(browser: Browser, stack: Stack) -> None:
    api = stack.api
    assert api is not None and stack.server is not None
    conn = a_connection(stack, name="Wizard two tables")
    flows_before = count(api, "/flows")
    tab = open_browsing(browser, stack.server.url, "wizard-two-tables-no-js", java_script_enabled=False)
    page = tab.page
    try:
        sign_in(tab, stack, f"/ui/s/prod/accounts/{conn}/explore")
        page.get_by_label("Select Lead (lead)").check()
        page.get_by_label("Select Contact (contact)").check()
        page.get_by_role("button", name="Create dataflow from the checked tables").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("New dataflow: details")
        expect(page.get_by_text("one dataflow each")).to_be_visible()
        tab.snap("details of two tables")
        page.get_by_label("Append").check()
        page.get_by_role("button", name="Next: mapping").click()
        expect(page.get_by_role("heading", name="Every column, as it is")).to_be_visible()
        page.get_by_role("link", name="Next: scheduling").click()
        page.get_by_role("button", name="Next: review").click()
        tab.snap("review of two tables")
        page.get_by_role("button", name="Create dataflows").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Dataflows created")
        expect(page.locator("table.create-checklist tbody tr")).to_have_count(10)
        tab.snap("two created")
    finally:
        tab.context.close()
    assert count(api, "/flows") == flows_before + 2
    names = {f["name"] for f in api.items("/flows")}
    assert {"lead from Wizard two tables", "contact from Wizard two tables"} <= names
