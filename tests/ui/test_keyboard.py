"""Keyboard only, from sign-in to a finished run: every step is reached with Tab (and Shift+Tab), typed, or
pressed with Enter or Space; the mouse is never used. A control Tab cannot reach fails the test by name."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Locator, Page, expect

from flowservice.demo import ORG
from tests.e2e.stack import Stack
from tests.ui.conftest import open_browsing
from tests.ui.test_browser import a_connection

MAX_TABS = 120


def tab_to(page: Page, target: Locator, *, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until ``target`` has the focus."""
    target.wait_for()
    for _ in range(MAX_TABS):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{target} is not reachable with the keyboard in {MAX_TABS} presses of Tab")


def type_into(page: Page, field: Locator, text: str) -> None:
    tab_to(page, field)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def press(page: Page, control: Locator, key: str = "Enter") -> None:
    tab_to(page, control)
    page.keyboard.press(key)


def next_step(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=name).or_(page.get_by_role("link", name=name)).first


def test_a_keyboard_alone_signs_in_creates_a_dataflow_and_watches_its_run_finish(
    browser: Browser, stack: Stack
) -> None:
    api = stack.api
    assert api is not None
    conn = a_connection(stack, name="Keyboard account")
    tab = open_browsing(browser, stack.ui_url, "keyboard-only")
    page = tab.page
    try:
        tab.go("/ui")  # typing the address is the one thing done before the page has the focus
        type_into(page, page.get_by_label("Org ID"), ORG)
        type_into(page, page.get_by_label("Client ID"), stack.credentials["client_id"])
        type_into(page, page.get_by_label("Client secret"), stack.credentials["client_secret"])
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        tab.snap("signed in")

        press(page, page.get_by_role("navigation", name="Sections").get_by_role("link", name="Accounts"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Accounts")
        row = page.get_by_role("row").filter(has_text=conn)
        press(page, row.get_by_role("link", name=re.compile("^Explore")))
        expect(page.get_by_role("heading", level=1)).to_contain_text("Explore")
        page.wait_for_load_state("load")  # the shortcut's handler is in a deferred script: the heading shows first
        page.keyboard.press("/")  # the filter's shortcut
        expect(page.get_by_label("Filter tables")).to_be_focused()
        page.keyboard.type("account")
        tab.snap("explore filtered")
        press(page, page.get_by_label("Select Account (account)"), "Space")
        expect(page.get_by_label("Select Account (account)")).to_be_checked()
        press(page, page.get_by_role("button", name="Create dataflow from the checked tables"))

        expect(page.get_by_role("heading", level=1)).to_have_text("New dataflow: details")
        type_into(page, page.get_by_label("New dataset's name"), "keyboard_accounts")
        type_into(page, page.get_by_label("Dataflow name"), "Keyboard accounts")
        tab.snap("details")
        press(page, next_step(page, "Next: mapping"))
        expect(page.get_by_role("heading", level=1)).to_have_text("New dataflow: mapping")
        press(page, page.get_by_role("link", name=re.compile("^Skip the \\d+ rows")))  # past 117 rows of inputs
        press(page, next_step(page, "Next: scheduling"))
        expect(page.get_by_role("heading", level=1)).to_have_text("New dataflow: scheduling")
        expect(page.get_by_label("Frequency")).to_have_value("once")
        press(page, next_step(page, "Next: review"))
        expect(page.get_by_role("heading", level=1)).to_have_text("New dataflow: review")
        tab.snap("review")
        press(page, page.get_by_role("button", name="Create dataflow"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Dataflow created")
        tab.snap("created")

        run_link = page.get_by_role("link", name=re.compile(r"^run "))
        expect(run_link).to_be_visible(timeout=30_000)
        run_id = run_link.inner_text().removeprefix("run ")
        press(page, run_link)
        page.wait_for_url(f"**/runs/{run_id}")
        run = stack.wait(run_id)
        assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]
        expect(page.locator("#run-status-live")).to_have_text("Run status: Succeeded", timeout=30_000)
        written = run["metrics"]["recordSummary"]["outputRecordCount"]
        expect(page.locator('[data-counter="written"]')).to_have_text(f"{written:,}")
        tab.snap("run finished")
    finally:
        tab.context.close()
    assert tab.aborted == []
    assert [e for e in tab.console_errors if "Failed to load resource" not in e] == []


def test_the_slash_shortcut_can_be_turned_off_on_the_about_page_and_stays_off(browser: Browser, stack: Stack) -> None:
    conn = a_connection(stack, name="Shortcut account")
    tab = open_browsing(browser, stack.ui_url, "shortcuts-off")
    page = tab.page
    try:
        tab.go("/ui")
        type_into(page, page.get_by_label("Org ID"), ORG)
        type_into(page, page.get_by_label("Client ID"), stack.credentials["client_id"])
        type_into(page, page.get_by_label("Client secret"), stack.credentials["client_secret"])
        page.keyboard.press("Enter")
        page.wait_for_url("**/ui/s/prod/**")
        explore = f"/ui/s/prod/accounts/{conn}/explore"
        tab.go(explore)
        page.keyboard.press("/")
        expect(page.get_by_label("Filter tables")).to_be_focused()

        tab.go("/ui/s/prod/about")
        toggle = page.get_by_label(re.compile("moves the focus to the page's search"))
        expect(toggle).to_be_checked()
        press(page, toggle, "Space")
        expect(toggle).not_to_be_checked()
        tab.snap("shortcuts off")
        tab.go(explore)
        page.keyboard.press("/")
        expect(page.get_by_label("Filter tables")).not_to_be_focused()
        tab.go("/ui/s/prod/about")
        expect(page.get_by_label(re.compile("moves the focus to the page's search"))).not_to_be_checked()
    finally:
        tab.context.close()
    assert [e for e in tab.console_errors if "Failed to load resource" not in e] == []
