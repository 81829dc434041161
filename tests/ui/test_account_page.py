"""The account page in Chromium against the real stack: its dataflows and datasets, edit under ``If-Match``
(a stale edit is a 412 page that shows what changed and overwrites nothing), secrets replaced but never shown,
test, and delete blocked while a dataflow uses the account."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.stack import Stack
from tests.ui.conftest import Browsing, serious_violations, sign_in

CONNECTIONS = "/connections/{}"


def account(stack: Stack, conn: str) -> dict[str, Any]:
    assert stack.api is not None
    return stack.api.item(CONNECTIONS.format(conn))


def test_the_accounts_list_links_to_the_account_page_which_lists_its_dataflows_and_datasets_and_blocks_delete(
    browsing: Browsing, stack: Stack
) -> None:
    conn = stack.connection()
    flow = stack.flow(conn, "account", "merge")
    page = browsing.page
    sign_in(browsing, stack, "/ui/s/prod/accounts")
    page.get_by_role("row").filter(has_text=conn).get_by_role("link", name="Dynamics", exact=True).click()
    page.wait_for_url(f"**/ui/s/prod/accounts/{conn}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Account Dynamics")
    expect(page.get_by_role("heading", name="Dataflows (1)")).to_be_visible()
    expect(page.get_by_role("link", name="account merge").first).to_have_attribute(
        "href", f"/ui/s/prod/dataflows/{flow['flow']}"
    )
    expect(page.get_by_role("link", name=flow["name"])).to_have_attribute(
        "href", f"/ui/s/prod/datasets/{flow['dataset']}"
    )
    blocked = page.get_by_role("region", name="Delete")
    expect(blocked).to_contain_text("Deleting is blocked while these use the account")
    expect(blocked.get_by_role("link", name="account merge")).to_be_visible()
    expect(blocked.get_by_role("link", name="Delete Dynamics")).to_have_count(0)
    browsing.snap("account page")
    assert serious_violations(page) == []
    page.get_by_role("link", name="Test Dynamics").click()
    expect(page.locator(f"#test-{conn}").get_by_role("status")).to_have_text("✓ Credentials OK")
    browsing.snap("tested")


def test_an_edit_of_name_description_and_service_uri_is_saved_as_a_json_patch(browsing: Browsing, stack: Stack) -> None:
    conn = stack.connection()
    before = account(stack, conn)
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/accounts/{conn}")
    page.get_by_label("Account name").fill("Sales org")
    page.get_by_label("Description").fill("the sales team's org")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").first).to_have_text("✓ Saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Account Sales org")
    after = account(stack, conn)
    assert (after["name"], after["description"]) == ("Sales org", "the sales team's org")
    assert after["auth"]["params"] == before["auth"]["params"]  # nothing else was sent
    assert after["etag"] != before["etag"]
    browsing.snap("saved")
    page.get_by_role("button", name="Save changes").click()  # the same values again: nothing to send
    expect(page.get_by_role("status").first).to_contain_text("Nothing to save")
    assert account(stack, conn)["etag"] == after["etag"]


def test_a_stale_edit_shows_changed_elsewhere_with_what_changed_and_overwrites_nothing(
    browsing: Browsing, stack: Stack
) -> None:
    conn = stack.connection()
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/accounts/{conn}")
    expect(page.get_by_label("Account name")).to_have_value("Dynamics")
    browsing.snap("opened")
    # meanwhile, someone renames the account through the API
    assert stack.api is not None
    current = account(stack, conn)
    renamed = stack.api.patch(
        CONNECTIONS.format(conn),
        json=[{"op": "replace", "path": "/name", "value": "Renamed elsewhere"}],
        headers={"If-Match": current["etag"]},
    )
    assert renamed.status_code == 200, renamed.text
    page.get_by_label("Description").fill("my edit")
    with page.expect_response(lambda r: r.url.endswith(f"/accounts/{conn}/edit")) as answer:
        page.get_by_role("button", name="Save changes").click()
    assert answer.value.status == 412
    alert = page.get_by_role("alert")
    expect(alert.get_by_role("heading")).to_have_text("✗ Changed elsewhere: reload")
    expect(alert).to_be_focused()
    expect(alert).to_contain_text("Nothing was overwritten")
    changed = alert.get_by_role("row").filter(has_text="Account name")
    expect(changed.get_by_role("cell")).to_have_text(["✗ yes", "Dynamics", "Renamed elsewhere", "Dynamics"])
    mine = alert.get_by_role("row").filter(has_text="Description")
    expect(mine.get_by_role("cell")).to_have_text(["no", "(empty)", "(empty)", "my edit"])
    browsing.snap("conflict")
    assert serious_violations(page) == []
    after = account(stack, conn)
    assert (after["name"], after.get("description") or "") == ("Renamed elsewhere", "")
    page.get_by_role("link", name="Reload the account").click()
    expect(page.get_by_label("Account name")).to_have_value("Renamed elsewhere")
    page.get_by_label("Description").fill("my edit")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").first).to_have_text("✓ Saved.")
    assert account(stack, conn)["description"] == "my edit"
    browsing.snap("saved after reload")


def test_a_secret_is_never_shown_and_can_be_replaced(browsing: Browsing, stack: Stack) -> None:
    conn = stack.connection()
    org = stack.emulator
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/accounts/{conn}")
    password = page.get_by_label("New password")
    expect(password).to_have_attribute("type", "password")
    expect(password).to_have_value("")
    expect(page.get_by_text("Set; it is never shown.")).to_be_visible()
    assert org.password not in page.content()
    password.fill("not-the-password")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").first).to_have_text("✓ Saved.")
    page.get_by_role("link", name="Test Dynamics").click()
    expect(page.locator(f"#test-{conn}").get_by_role("status")).to_contain_text("✗ Failed")
    browsing.snap("wrong secret saved")
    page.get_by_label("New password").fill(org.password)
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").first).to_have_text("✓ Saved.")
    page.get_by_role("link", name="Test Dynamics").click()
    expect(page.locator(f"#test-{conn}").get_by_role("status")).to_have_text("✓ Credentials OK")
    assert org.password not in page.content()
    assert account(stack, conn)["auth"]["params"]["password"] == "********"
    browsing.snap("secret replaced")


def test_an_edit_the_api_refuses_shows_its_error_and_keeps_what_was_typed(browsing: Browsing, stack: Stack) -> None:
    conn = stack.connection()
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/accounts/{conn}")
    page.get_by_label("Account name").fill("   ")
    page.get_by_label("Description").fill("kept")
    page.evaluate("document.getElementById('edit-name').removeAttribute('required')")
    with page.expect_response(lambda r: r.url.endswith(f"/accounts/{conn}/edit")) as answer:
        page.get_by_role("button", name="Save changes").click()
    assert answer.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("name")
    expect(page.get_by_label("Description")).to_have_value("kept")
    assert account(stack, conn)["name"] == "Dynamics"
    browsing.snap("refused")
