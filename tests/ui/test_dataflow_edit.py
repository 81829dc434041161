"""*Edit dataflow* in Chromium against the real stack: a change of name and schedule is saved as JSON Patch
under ``If-Match``; a stale edit is the API's 412 page with what changed elsewhere, and overwrites nothing; an
interval under the spec's minimum is refused in the API's own words."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.stack import Stack
from tests.ui.conftest import Browsing, serious_violations, sign_in
from tests.ui.test_runs import a_flow, api_of


def test_an_edit_of_name_and_schedule_is_saved_and_shown_on_the_activity_page(browsing: Browsing, stack: Stack) -> None:
    flow = a_flow(stack, "account", "edit")
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/dataflows/{flow['id']}")
    page.get_by_role("link", name=f"Edit {flow['name']}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Edit dataflow {flow['name']}")
    browsing.snap("edit form")
    assert serious_violations(page) == []
    page.get_by_label("Dataflow name").fill("account hourly")
    page.get_by_label("Frequency").select_option("hour")
    page.get_by_label(re.compile("^Interval")).fill("2")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").filter(has_text="Changes saved")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("account hourly")
    browsing.snap("saved")
    stored = api_of(stack).item(f"/flows/{flow['id']}")
    assert stored["name"] == "account hourly"
    assert stored["scheduleParams"]["frequency"] == "hour" and str(stored["scheduleParams"]["interval"]) == "2"


def test_a_stale_edit_shows_what_changed_elsewhere_and_overwrites_nothing(browsing: Browsing, stack: Stack) -> None:
    flow = a_flow(stack, "contact", "stale")
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/dataflows/{flow['id']}/edit")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Edit dataflow {flow['name']}")
    api = api_of(stack)
    etag = api.item(f"/flows/{flow['id']}")["etag"]
    changed = api.request(
        "PATCH",
        f"/flows/{flow['id']}",
        json=[{"op": "replace", "path": "/name", "value": "renamed elsewhere"}],
        headers={"If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    page.get_by_label("Dataflow name").fill("my name")
    page.get_by_role("button", name="Save changes").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Changed elsewhere: reload")
    expect(alert).to_be_focused()
    row = page.get_by_role("row").filter(has_text="Dataflow name")
    expect(row).to_contain_text("✗ yes")
    expect(row).to_contain_text("renamed elsewhere")
    expect(row).to_contain_text("my name")
    browsing.snap("conflict")
    assert serious_violations(page) == []
    assert api.item(f"/flows/{flow['id']}")["name"] == "renamed elsewhere"


def test_an_interval_under_the_minimum_is_refused_in_the_apis_words_and_the_typing_kept(
    browsing: Browsing, stack: Stack
) -> None:
    flow = a_flow(stack, "lead", "minimum")
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/dataflows/{flow['id']}/edit")
    page.get_by_label("Frequency").select_option("minute")
    page.get_by_label(re.compile("^Interval")).fill("10")
    page.get_by_role("button", name="Save changes").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("at least 15")
    expect(page.get_by_label(re.compile("^Interval"))).to_have_value("10")
    browsing.snap("interval refused")
    assert api_of(stack).item(f"/flows/{flow['id']}")["scheduleParams"]["frequency"] == "day"


def test_checked_dataflows_are_disabled_and_enabled_together(browsing: Browsing, stack: Stack) -> None:
    flows = [a_flow(stack, "account", "bulk one"), a_flow(stack, "contact", "bulk two")]
    api = api_of(stack)
    page = browsing.page
    page.clock.install()  # the table's 10-second refresh runs on a clock the test moves
    sign_in(browsing, stack, "/ui/s/prod/dataflows")
    for flow in flows:
        page.get_by_label(f"Select {flow['name']}", exact=True).check()
    page.clock.run_for(11_000)  # a refresh of the table would drop the checks: it waits while some are checked
    for flow in flows:
        expect(page.get_by_label(f"Select {flow['name']}", exact=True)).to_be_checked()
    browsing.snap("two checked")
    page.get_by_role("button", name="Disable selected").click()
    expect(page.get_by_role("status").filter(has_text="Disabled 2 of 2 dataflows.")).to_be_visible()
    assert [api.item(f"/flows/{f['id']}")["state"] for f in flows] == ["disabled", "disabled"]
    page.get_by_label(f"Select {flows[0]['name']}", exact=True).check()
    page.get_by_role("button", name="Enable selected").click()
    expect(page.get_by_role("status").filter(has_text="Enabled 1 of 1 dataflows.")).to_be_visible()
    assert [api.item(f"/flows/{f['id']}")["state"] for f in flows] == ["enabled", "disabled"]
    browsing.snap("one enabled again")
    assert serious_violations(page) == []
