"""The UI in Chromium against the real stack: sign-in, connect, accounts, explore, sandbox isolation, expiry.

The module runs twice: with the UI served by the API's own process, and with the UI on a second ``flowservice
serve`` that reaches the first one's API over HTTP only (``FLOWSERVICE_UI_API_URL``). Assertions are on roles
and text (never pixels); each named step leaves a screenshot in test-results/ui/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from flowservice.client import FlowServiceClient
from flowservice.demo import ORG
from flowservice.domain.catalogue import DYNAMICS_SPEC_ID
from tests.e2e.stack import Stack
from tests.fixtures.server import LiveServer, start_server, stop_server
from tests.ui.conftest import Browsing, open_browsing, serious_violations, sign_in, ui_stack

BASIC = "Basic Authentication for Dynamics-Online"


@pytest.fixture(scope="module", params=["ui in the api's process", "ui on a second server"])
def stack(request: pytest.FixtureRequest, emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from ui_stack(emulator, tmp_path_factory, remote_ui=request.param == "ui on a second server")


def connection_count(api: FlowServiceClient) -> int:
    return int(api.call("GET", "/connections", params={"count": "true"})["count"])


def a_connection(stack: Stack, api: FlowServiceClient | None = None, name: str = "Dynamics") -> str:
    client = api or stack.api
    assert client is not None
    org = stack.emulator
    params = {"serviceUri": org.org_url, "username": org.username, "password": org.password}
    return client.create_connection(name, auth_spec=BASIC, params=params).id


def test_a_wrong_secret_is_refused_with_focus_on_the_alert_and_the_right_one_lands_on_the_catalog(
    browsing: Browsing, stack: Stack
) -> None:
    page = browsing.page
    browsing.go("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    browsing.snap("sign in form")
    page.get_by_label("Org ID").fill(ORG)
    page.get_by_label("Client ID").fill(stack.credentials["client_id"])
    page.get_by_label("Client secret").fill("not-the-secret")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The client_id or client_secret is not valid.")
    expect(alert).to_be_focused()
    assert page.get_by_label("Client secret").input_value() == ""
    browsing.snap("wrong secret")
    assert serious_violations(page) == []
    page.get_by_label("Client secret").fill(stack.credentials["client_secret"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sources catalog")
    expect(page.get_by_role("heading", name="Microsoft Dynamics")).to_be_visible()
    assert page.url.endswith("/ui/s/prod/sources")
    browsing.snap("catalog")
    assert serious_violations(page) == []
    cookies = {c["name"]: c for c in browsing.context.cookies()}
    assert cookies["fs_token"]["httpOnly"] and cookies["fs_token"]["sameSite"] == "Strict"
    assert "fs_token" not in page.evaluate("document.cookie")
    assert all(stack.credentials["client_secret"] not in c["value"] for c in cookies.values())
    assert stack.credentials["client_secret"] not in page.content()


def test_connecting_with_a_wrong_password_explains_it_and_the_retry_updates_the_same_account(
    browsing: Browsing, stack: Stack
) -> None:
    assert stack.api is not None
    before = connection_count(stack.api)
    page = browsing.page
    sign_in(browsing, stack)
    page.get_by_role("link", name="Add data from Microsoft Dynamics").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connect a Microsoft Dynamics account")
    expect(page.get_by_role("link", name="Service principal")).to_be_visible()
    browsing.snap("connect form")
    assert serious_violations(page) == []
    org = stack.emulator
    page.get_by_label("Account name").fill("Sales org")
    page.get_by_label("Service URI").fill(org.org_url)
    page.get_by_label("Username").fill(org.username)
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Connect").click()
    checklist = page.locator(".checklist")
    expect(checklist).to_contain_text("✓ Done Account created")
    expect(checklist).to_contain_text("✗ Failed Credentials tested")
    expect(page.get_by_role("alert").first).to_contain_text("invalid username or password")
    expect(page.get_by_role("alert").first).to_contain_text("Check the username and password")
    browsing.snap("wrong password")
    assert connection_count(stack.api) == before + 1
    # the form keeps what is not secret; the password is asked again
    assert page.get_by_label("Username").input_value() == org.username
    assert page.get_by_label("Password").input_value() == ""
    page.get_by_label("Password").fill(org.password)
    page.get_by_role("button", name="Update and retry").click()
    expect(checklist).to_contain_text("✓ Done Credentials tested")
    tables = len(stack.api.call("GET", f"/connections/{_conn_of(page.url)}/explore", params={"objectType": "root"}))
    expect(checklist).to_contain_text(re.compile(rf"✓ Done\s+Tables explored: {tables} tables found in \d+ ms"))
    expect(page.get_by_role("status").first).to_contain_text("The account is ready.")
    browsing.snap("connected")
    assert connection_count(stack.api) == before + 1  # the retry created no second account
    drawer = page.locator("#api-calls")
    drawer.locator("summary").first.click()
    expect(drawer).to_contain_text("/explore?objectType=root")
    explore_row = drawer.locator("tr.api-call").filter(has_text="/explore?objectType=root")
    explore_row.locator("summary").click()
    curl = explore_row.locator("pre.curl").inner_text()
    assert curl.startswith(f"curl -X GET '{stack.server.url}/data/foundation/flowservice/connections/")  # type: ignore[union-attr]
    assert '-H "Authorization: Bearer $ACCESS_TOKEN"' in curl and f"x-gw-ims-org-id: {ORG}" in curl
    expect(explore_row.get_by_role("button", name="Copy as curl")).to_be_visible()
    browsing.snap("api calls drawer")
    assert stack.api.token not in page.content()


def _conn_of(url: str) -> str:
    match = re.search(r"conn=([0-9a-f-]+)", url)
    assert match is not None
    return match.group(1)


def test_the_service_principal_form_connects_too(browsing: Browsing, stack: Stack) -> None:
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/sources/{DYNAMICS_SPEC_ID}/connect")
    page.get_by_role("link", name="Service principal").click()
    org = stack.emulator
    page.get_by_label("Account name").fill("Sales org (app)")
    page.get_by_label("Service URI").fill(org.org_url)
    page.get_by_label("Service principal ID").fill(org.client_id)
    page.get_by_label("Service principal key").fill(org.client_secret)
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("status").first).to_contain_text("The account is ready.")
    browsing.snap("service principal connected")


def test_accounts_are_listed_tested_in_place_and_deleted(browsing: Browsing, stack: Stack) -> None:
    conn = a_connection(stack, name="To delete")
    page = browsing.page
    sign_in(browsing, stack, "/ui/s/prod/accounts")
    expect(page.get_by_role("heading", level=1)).to_have_text("Accounts")
    row = page.get_by_role("row").filter(has_text=conn)
    expect(row).to_contain_text(stack.emulator.username)
    browsing.snap("accounts")
    assert serious_violations(page) == []
    row.get_by_role("link", name="Test To delete").click()
    expect(row.get_by_role("status")).to_have_text("✓ Credentials OK")
    assert page.url.endswith("/ui/s/prod/accounts")  # swapped in place by htmx
    browsing.snap("tested")
    row.get_by_role("link", name="Delete To delete").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete account To delete?")
    page.get_by_role("button", name="Delete To delete").click()
    expect(page.get_by_role("status").first).to_have_text("✓ Deleted To delete.")
    expect(page.get_by_role("row").filter(has_text=conn)).to_have_count(0)
    browsing.snap("deleted")
    assert stack.api is not None
    assert stack.api.request("GET", f"/connections/{conn}").status_code == 404


def test_explore_lists_every_table_and_filters_them_in_the_page(browsing: Browsing, stack: Stack) -> None:
    assert stack.api is not None
    conn = a_connection(stack)
    items = stack.api.call("GET", f"/connections/{conn}/explore", params={"objectType": "root"})
    expected = sum(1 for i in items if "contact" in f"{i['name']} {i['path']}".lower())
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/accounts/{conn}/explore")
    expect(page.get_by_role("heading", name=f"{len(items)} tables")).to_be_visible()
    browsing.snap("explore")
    assert serious_violations(page) == []
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.keyboard.press("/")
    expect(page.get_by_label("Filter tables")).to_be_focused()
    page.keyboard.type("contact")
    expect(page.locator("#tables-status")).to_have_text(f"Showing {expected} of {len(items)} tables")
    expect(page.locator("#table-list > li:visible")).to_have_count(expected)
    assert requests == []  # filtered in the page: nothing fetched again
    browsing.snap("filtered")
    page.get_by_label("Filter tables").fill("account")
    page.get_by_role("link", name="Account", exact=True).click()
    expect(page.get_by_role("heading", name="Table account")).to_be_focused()
    expect(page.get_by_role("table").filter(has_text="columns of account")).to_contain_text("accountid")
    assert "table=account" in page.url
    browsing.snap("columns")
    page.get_by_role("link", name="Preview").click()
    expect(page.locator("table.preview tbody tr").first).to_be_visible()
    browsing.snap("preview")
    page.reload()  # the URL is the state
    expect(page.locator("table.preview tbody tr").first).to_be_visible()


def test_explore_renders_and_filters_without_javascript(browser: Browser, stack: Stack) -> None:
    assert stack.api is not None and stack.server is not None
    conn = a_connection(stack)
    tab = open_browsing(browser, stack.ui_url, "explore-without-js", java_script_enabled=False)
    try:
        sign_in(tab, stack, f"/ui/s/prod/accounts/{conn}/explore?q=contact&table=contact")
        expect(tab.page.locator("#tables-status")).to_contain_text("Showing")
        expect(tab.page.get_by_role("heading", name="Table contact")).to_be_visible()
        assert tab.page.locator("#table-list > li:visible").count() < tab.page.locator("#table-list > li").count()
        tab.snap("explore without javascript")
    finally:
        tab.context.close()


def test_a_resource_of_dev_opened_under_prod_is_a_404_page_and_the_switcher_changes_sandbox(
    browsing: Browsing, stack: Stack
) -> None:
    assert stack.api is not None
    dev = FlowServiceClient(
        stack.api.http, org=ORG, client_id=stack.api.client_id, token=stack.api.token, sandbox="dev"
    )
    conn = a_connection(stack, dev, name="Dev only")
    page = browsing.page
    sign_in(browsing, stack, f"/ui/s/prod/accounts/{conn}/explore")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_role("alert")).to_contain_text(f"connections resource {conn} is not found")
    expect(page.get_by_role("alert")).to_contain_text("404")
    browsing.snap("dev resource under prod")
    browsing.go("/ui/s/prod/accounts")
    expect(page.get_by_text("Dev only")).to_have_count(0)
    switcher = page.get_by_label("Sandbox")
    assert sorted(switcher.locator("option").all_inner_texts()) == [
        "Production (prod, production)",
        "dev (dev, development)",
    ]
    switcher.select_option("dev")
    page.wait_for_url("**/ui/s/dev/accounts")
    expect(page.get_by_role("row").filter(has_text=conn)).to_contain_text("Dev only")
    browsing.snap("dev accounts")


@pytest.fixture
def short_lived(tmp_path) -> Iterator[LiveServer]:
    """A server whose tokens live 3 seconds."""
    server = start_server(tmp_path / "short", {"FLOWSERVICE_TOKEN_LIFETIME_SECONDS": "3"})
    yield server
    stop_server(server)


def test_after_the_token_expires_signing_in_returns_to_the_deep_link(browser: Browser, short_lived: LiveServer) -> None:
    creds = json.loads(short_lived.cli("clients", "create", "--org", ORG, "--name", "ui"))
    tab = open_browsing(browser, short_lived.url, "expiry")
    page = tab.page
    try:
        deep = "/ui/s/prod/sources?q=dyn"
        tab.go(deep)
        for label, value in (
            ("Org ID", ORG),
            ("Client ID", creds["client_id"]),
            ("Client secret", creds["client_secret"]),
        ):
            page.get_by_label(label).fill(value)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**" + deep)
        tab.snap("signed in")
        page.wait_for_timeout(3500)  # the token's lifetime runs out
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
        expect(page.get_by_role("status")).to_contain_text("Your session has ended")
        assert page.get_by_label("Client ID").input_value() == creds["client_id"]
        tab.snap("expired")
        page.get_by_label("Client secret").fill(creds["client_secret"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**" + deep)
        expect(page.get_by_role("heading", level=1)).to_have_text("Sources catalog")
        tab.snap("back on the deep link")
    finally:
        tab.context.close()
    assert tab.aborted == []
