"""Dataflows, a dataflow's activity, a live run and its row errors in Chromium against the real stack.

The flows are created through the public API (``flowservice/client.py``), as a script would; the browser then
runs, watches, re-triggers, disables and deletes them. Assertions are on roles and text, and the numbers on
screen are compared with ``GET /runs/{id}``; each named step leaves a screenshot in test-results/ui/.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Request, Response, expect

from flowservice.client import FlowServiceClient
from tests.e2e.stack import Stack, server_env
from tests.ui.conftest import Browsing, open_browsing, serious_violations, sign_in

BASIC = "Basic Authentication for Dynamics-Online"


@pytest.fixture(scope="module")
def stack(emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """This module's server commits every 100 rows (pages of 50), so a run of 500 rows has several commits
    and its document several progress samples."""
    env = server_env(emulator, FLOWSERVICE_PAGE_SIZE="50", FLOWSERVICE_COMMIT_EVERY_ROWS="100")
    stack = Stack(emulator, tmp_path_factory.mktemp("ui-runs") / "server", env)
    stack.start()
    yield stack
    stack.stop()


def api_of(stack: Stack) -> FlowServiceClient:
    assert stack.api is not None
    return stack.api


def a_flow(stack: Stack, table: str, label: str, options: dict[str, Any] | None = None) -> dict[str, str]:
    """A flow of ``table`` into a new dataset, scheduled daily from tomorrow (so only the test runs it)."""
    api = api_of(stack)
    org = stack.emulator
    params = {"serviceUri": org.org_url, "username": org.username, "password": org.password}
    connection = api.create_connection(f"Dynamics {label}", auth_spec=BASIC, params=params).id
    dataset = api.create_dataset(f"{table}_{label}_{time.monotonic_ns()}")
    source = api.create_source_connection(f"{table} {label}", base_connection_id=connection, table=table)
    target = api.create_target_connection(f"{table} {label}", dataset_id=dataset, write_mode="merge")
    body: dict[str, Any] = {
        "name": f"{table} {label}",
        "flowSpec": {"id": "14518937-270c-4525-bdec-c2ba7cce3860", "version": "1.0"},
        "sourceConnectionIds": [source.id],
        "targetConnectionIds": [target.id],
        "transformations": [{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}],
        "scheduleParams": {"startTime": str(int(time.time()) + 86400), "frequency": "day", "interval": "1"},
    }
    if options:
        body["options"] = options
    flow = api.call("POST", "/flows", json=body)
    return {"id": str(flow["id"]), "name": f"{table} {label}", "dataset": dataset}


def counters(run: dict[str, Any]) -> dict[str, str]:
    records = run["metrics"]["recordSummary"]
    return {
        "read": f"{records['inputRecordCount']:,}",
        "written": f"{records['outputRecordCount']:,}",
        "deleted": f"{records['deletedRecordCount']:,}",
        "failed": f"{records['failedRecordCount']:,}",
        "commits": str(run["metrics"]["fileSummary"]["outputFileCount"]),
    }


def shown_counters(tab: Browsing) -> dict[str, str]:
    cells = tab.page.locator("#run-live [data-counter]")
    return {
        cells.nth(i).get_attribute("data-counter") or "": cells.nth(i).inner_text().strip()
        for i in range(cells.count())
    }


def test_run_now_from_the_dataflows_list_is_watched_live_to_success_with_the_apis_counters(
    browsing: Browsing, stack: Stack
) -> None:
    flow = a_flow(stack, "account", "live")
    page = browsing.page
    sign_in(browsing, stack, "/ui/s/prod/dataflows")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dataflows")
    row = page.get_by_role("row").filter(has_text=flow["id"])
    expect(row).to_contain_text("Every day from")
    expect(row).to_contain_text("Never run")
    expect(row.get_by_role("cell").filter(has_text="account").first).to_be_visible()
    browsing.snap("dataflows list")
    assert serious_violations(page) == []

    live_calls: list[str] = []
    reads_seen: list[int] = []  # the read counter of each polled fragment, in order
    rates_seen: list[str] = []

    def seen(request: Request) -> None:
        if "/live" in request.url:
            live_calls.append(request.url)

    def answered(response: Response) -> None:
        if "/live" not in response.url or response.status != 200:
            return
        body = response.text()
        read = re.search(r'data-counter="read">([0-9,]+)<', body)
        if read:
            reads_seen.append(int(read.group(1).replace(",", "")))
        rate = re.search(r"<dt>Rows/s now</dt><dd>([^<]+)</dd>", body)
        if rate and "inProgress" in response.url:
            rates_seen.append(rate.group(1))

    page.on("request", seen)
    page.on("response", answered)
    # pages of the account table slowed down, so the run is watched while it goes
    with stack.emulator.faults([{"kind": "slow", "table": "accounts", "delay_ms": 400, "count": None}]):
        row.get_by_role("button", name=f"Run now {flow['name']}").click()
        notice = page.get_by_role("status").filter(has_text="Run started")
        expect(notice).to_be_visible()
        browsing.snap("run started notice")
        notice.get_by_role("link").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Run of {flow['name']}")
        run_id = page.url.rsplit("/", 1)[-1]
        expect(page.locator("#run-live .run-state")).to_contain_text("Running", timeout=30_000)
        expect(page.locator("#run-live [data-counter=read]")).not_to_have_text("0", timeout=30_000)
        browsing.snap("run in progress")
        assert serious_violations(page) == []
        expect(page.locator("#run-live .run-state")).to_contain_text("Succeeded", timeout=90_000)
    api_run = api_of(stack).item(f"/runs/{run_id}")
    assert api_run["metrics"]["statusSummary"]["status"] == "success"
    assert shown_counters(browsing) == counters(api_run)
    assert api_run["metrics"]["recordSummary"]["inputRecordCount"] > 0
    samples = api_run["metrics"]["recordSummary"]["extensions"]["samples"]
    assert len(samples) >= 3
    label = page.locator("#run-live svg[role=img]").get_attribute("aria-label") or ""
    assert "peak" in label and "at the end" in label
    assert page.locator("#run-status-live").inner_text() == "Run status: Succeeded"
    polled = len(live_calls)
    assert polled >= 1
    distinct = sorted(set(reads_seen))
    assert reads_seen == sorted(reads_seen) and len(distinct) >= 3, reads_seen  # it counted while it ran
    assert any(r not in ("–", "0") for r in rates_seen), rates_seen  # rows/s shown while in progress
    page.wait_for_timeout(3_000)  # an absence is asserted: nothing may poll once the run is final
    assert len(live_calls) == polled
    browsing.snap("run succeeded")
    assert serious_violations(page) == []

    page.reload()  # the chart comes from the run document: it survives a reload of a finished run
    expect(page.locator("#run-live svg[role=img]")).to_have_attribute("aria-label", label)
    assert page.locator("#run-live tbody tr").count() >= 2  # the activities

    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=flow["name"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(flow["name"])
    runs = page.get_by_role("table", name=f"Runs of {flow['name']}, newest first")
    expect(runs.get_by_role("row")).to_have_count(2)  # the header and the one run
    expect(runs).to_contain_text("Succeeded")
    expect(page.locator("svg[role=img]")).to_have_attribute(
        "aria-label",
        f"Records per run: 1 run, the largest {counters(api_run)['written']} records; 0 failed runs (hatched).",
    )
    expect(page.locator("dl.tiles")).to_contain_text(counters(api_run)["written"])
    expect(page.locator("#id-flow")).to_have_text(flow["id"])
    browsing.snap("dataflow activity")
    assert serious_violations(page) == []


def null_keys(stack: Stack, table: str, entity_set: str, key: str, how_many: int) -> list[str]:
    """Clear the primary key of ``how_many`` records through the emulator's admin route (a real org never
    returns one; the engine must still count them failed and keep them as row errors)."""
    with stack.emulator.client() as client:
        rows = client.get(entity_set, params={"$select": key, "$top": str(how_many)}).json()["value"]
        ids = [r[key] for r in rows]
        for row_id in ids:
            client.patch(
                f"{stack.emulator.org_url}/_emulator/records/{table}/{row_id}", json={key: None}
            ).raise_for_status()
    return ids


def restore_keys(stack: Stack, table: str, key: str, ids: list[str]) -> None:
    with stack.emulator.client() as client:
        for row_id in ids:
            client.patch(
                f"{stack.emulator.org_url}/_emulator/records/{table}/{row_id}", json={key: row_id}
            ).raise_for_status()


@pytest.fixture
def keyless_opportunities(stack: Stack) -> Iterator[list[str]]:
    ids = null_keys(stack, "opportunity", "opportunities", "opportunityid", 3)
    yield ids
    restore_keys(stack, "opportunity", "opportunityid", ids)


def test_row_errors_are_grouped_by_code_filtered_in_the_url_and_downloaded_equal_to_the_apis(
    browsing: Browsing, stack: Stack, keyless_opportunities: list[str]
) -> None:
    flow = a_flow(stack, "opportunity", "errors")
    api = api_of(stack)
    run_id = api.start_run(flow["id"])
    run = api.wait_for_run(run_id, timeout=120)
    assert run["metrics"]["statusSummary"]["status"] == "partialSuccess"
    failed = run["metrics"]["recordSummary"]["failedRecordCount"]
    assert failed == len(keyless_opportunities)
    api_errors = api.call("GET", f"/runs/{run_id}/errors", params={"limit": "1000"})["errors"]
    assert len(api_errors) == failed

    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/runs/{run_id}")
    expect(page.locator("#run-live .run-state")).to_contain_text("Partially succeeded")
    expect(page.get_by_role("heading", name="✗ Error summary")).to_be_visible()
    browsing.snap("partially succeeded run")
    page.locator("#run-live").get_by_role("link", name=f"Row errors ({failed})").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Row errors")
    groups = page.get_by_role("table", name="Row errors grouped by code")
    expect(groups.locator("tr.error-group")).to_have_count(1)
    expect(groups.locator("tr.error-group")).to_contain_text("INGEST-1201-400")
    expect(groups.locator("tr.error-group td.num")).to_have_text(str(failed))
    expect(groups.locator("tr.error-group")).to_contain_text("opportunityid")
    browsing.snap("row errors grouped")
    assert serious_violations(page) == []

    page.get_by_label("Code", exact=True).select_option("INGEST-1201-400")
    page.get_by_label("Column", exact=True).select_option("opportunityid")
    page.get_by_role("button", name="Filter").click()
    assert "code=INGEST-1201-400" in page.url and "column=opportunityid" in page.url
    expect(page.locator("tr.row-error")).to_have_count(failed)
    browsing.snap("row errors filtered")

    with page.expect_download() as jsonl:
        page.get_by_role("link", name="JSON lines").click()
    lines = [json.loads(line) for line in open(jsonl.value.path(), encoding="utf-8").read().splitlines()]
    assert lines == api_errors
    with page.expect_download() as as_csv:
        page.get_by_role("link", name="CSV").click()
    table = list(csv.DictReader(io.StringIO(open(as_csv.value.path(), encoding="utf-8").read())))
    assert len(table) == failed
    assert [(r["code"], r["message"], json.loads(r["record"])) for r in table] == [
        (e["code"], e["message"], e["record"]) for e in api_errors
    ]
    assert {r["column"] for r in table} == {"opportunityid"}


def test_a_failed_run_is_retriggered_from_its_page_and_the_failures_filter_finds_its_flow(
    browsing: Browsing, stack: Stack
) -> None:
    flow = a_flow(stack, "lead", "retrigger")
    healthy = a_flow(stack, "contact", "healthy")
    api = api_of(stack)
    api.wait_for_run(api.start_run(healthy["id"]), timeout=120)
    refusal = {"kind": "error", "table": "leads", "status": 400, "code": "0x80040203", "message": "Broken on purpose"}
    with stack.emulator.faults([{**refusal, "count": None}]):
        run_id = api.start_run(flow["id"])
        failed = api.wait_for_run(run_id, timeout=120)
    assert failed["metrics"]["statusSummary"]["status"] == "failed"

    page = browsing.page
    sign_in(browsing, stack, "/ui/s/prod/dataflows?failures=1")
    listed = page.get_by_role("table").first
    expect(listed).to_contain_text(flow["id"])
    expect(listed).not_to_contain_text(healthy["id"])
    expect(listed).to_contain_text("Failed")
    browsing.snap("failures only")
    listed.get_by_role("link", name="Failed").first.click()
    expect(page.locator("#run-live .run-state")).to_contain_text("Failed")
    expect(page.get_by_role("heading", name="✗ Error summary")).to_be_visible()
    expect(page.locator("#run-live .problem")).to_contain_text("CONNECTOR-")
    browsing.snap("failed run")
    assert serious_violations(page) == []
    page.get_by_role("button", name="Re-trigger this run").click()
    expect(page.get_by_role("status").filter(has_text="Re-triggered")).to_be_visible()
    expect(page.locator("#run-live .run-state")).to_contain_text("Succeeded", timeout=90_000)
    assert page.url.split("?")[0].endswith(f"/runs/{run_id}")
    again = api.item(f"/runs/{run_id}")
    assert again["metrics"]["statusSummary"]["status"] == "success"
    assert shown_counters(browsing) == counters(again)
    browsing.snap("re-triggered run succeeded")
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=flow["name"]).click()
    expect(page.get_by_role("table", name=f"Runs of {flow['name']}, newest first")).to_contain_text("Succeeded")


def test_a_flow_is_disabled_enabled_and_deleted_through_the_dialog_or_without_javascript_the_confirm_page(
    browsing: Browsing, stack: Stack, browser: Browser
) -> None:
    flow = a_flow(stack, "contact", "toggled")
    other = a_flow(stack, "contact", "plain")
    api = api_of(stack)
    page = browsing.page
    sign_in(browsing, stack, "/ui/s/prod/dataflows")
    row = page.get_by_role("row").filter(has_text=flow["id"])
    row.get_by_role("button", name=f"Disable {flow['name']}").click()
    row = page.get_by_role("row").filter(has_text=flow["id"])
    expect(row).to_contain_text("Disabled")
    assert api.item(f"/flows/{flow['id']}")["state"] == "disabled"
    expect(row.get_by_role("button", name=f"Run now {flow['name']}")).to_be_disabled()
    browsing.snap("disabled")
    row.get_by_role("button", name=f"Enable {flow['name']}").click()
    row = page.get_by_role("row").filter(has_text=flow["id"])
    expect(row).to_contain_text("Enabled")
    assert api.item(f"/flows/{flow['id']}")["state"] == "enabled"

    row.get_by_role("link", name=f"Delete {flow['name']}").click()
    dialog = page.get_by_role("dialog", name=f"Delete dataflow {flow['name']}?")
    expect(dialog).to_be_visible()
    browsing.snap("delete dialog")
    assert serious_violations(page) == []
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    row.get_by_role("link", name=f"Delete {flow['name']}").click()
    dialog.get_by_role("button", name=f"Delete {flow['name']}").click()
    expect(page.get_by_role("status").filter(has_text=f"Deleted {flow['name']}")).to_be_visible()
    assert api.get(f"/flows/{flow['id']}").status_code == 404
    expect(page.get_by_role("row").filter(has_text=flow["id"])).to_have_count(0)
    browsing.snap("deleted with the dialog")

    assert stack.server is not None
    plain = open_browsing(browser, stack.server.url, "delete-without-javascript", java_script_enabled=False)
    try:
        sign_in(plain, stack, "/ui/s/prod/dataflows")
        plain.page.get_by_role("row").filter(has_text=other["id"]).get_by_role(
            "link", name=f"Delete {other['name']}"
        ).click()
        expect(plain.page.get_by_role("heading", level=1)).to_have_text(f"Delete dataflow {other['name']}?")
        plain.snap("confirm page without javascript")
        plain.page.get_by_role("main").get_by_role("button", name=f"Delete {other['name']}").click()
        expect(plain.page.get_by_role("status").filter(has_text=f"Deleted {other['name']}")).to_be_visible()
        assert api.get(f"/flows/{other['id']}").status_code == 404
        assert plain.aborted == []
    finally:
        plain.context.close()


def test_a_running_run_announces_its_counters_every_30_seconds_only_when_asked(
    browsing: Browsing, stack: Stack
) -> None:
    flow = a_flow(stack, "account", "announce")
    page = browsing.page
    page.clock.install()  # the page's timers run on a clock the test moves
    with stack.emulator.faults([{"kind": "slow", "table": "accounts", "delay_ms": 400, "count": None}]):
        run_id = api_of(stack).start_run(flow["id"])
        sign_in(browsing, stack, f"/ui/s/prod/runs/{run_id}")
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Run of {flow['name']}")
        region = page.locator("#run-progress-announce")
        choice = page.get_by_label("Announce progress every 30 seconds")
        expect(choice).to_be_visible()
        page.clock.run_for(31_000)
        expect(region).to_have_text("")  # not asked: silent
        choice.check()
        page.clock.run_for(31_000)
        expect(region).to_have_text(re.compile(r"^Read [0-9,]+, written [0-9,]+\.$"))
        browsing.snap("progress announced")
        choice.uncheck()
    stack.wait(run_id)


NOTIFICATIONS = """
window.__notes = [];
window.Notification = class {
  static permission = "default";
  static requestPermission() { window.Notification.permission = "granted"; return Promise.resolve("granted"); }
  constructor(title, options) { window.__notes.push([title, options && options.body]); }
};
"""


def test_a_watched_run_notifies_the_browser_once_when_it_ends_after_the_user_asks(
    browsing: Browsing, stack: Stack
) -> None:
    flow = a_flow(stack, "account", "notify")
    page = browsing.page
    browsing.context.add_init_script(NOTIFICATIONS)  # the browser's Notification, recorded instead of shown
    with stack.emulator.faults([{"kind": "slow", "table": "accounts", "delay_ms": 300, "count": None}]):
        run_id = api_of(stack).start_run(flow["id"])
        sign_in(browsing, stack, f"/ui/s/prod/runs/{run_id}")
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Run of {flow['name']}")
        page.get_by_label("Notify me in this browser when the run ends").check()
    expect(page.locator("#run-live .run-state")).to_contain_text("Succeeded", timeout=90_000)
    page.wait_for_function("window.__notes.length > 0")
    assert page.evaluate("window.__notes") == [[f"Run {run_id} · flowservice", "Run status: Succeeded"]]
    browsing.snap("notified")
