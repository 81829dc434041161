"""Browser fixtures: Debian's Chromium driven by Playwright (never a browser Playwright downloads), against the
real stack (the crm_emulator process and a ``flowservice serve`` process, as ``tests/e2e`` starts them).

A missing Chromium fails these tests: ``.ci/run`` installs it (``apt-get install chromium``). Every test saves
a screenshot per named step under ``test-results/ui/<test>/``. Any request to a host other than 127.0.0.1 is
aborted and counted, and console errors (a CSP violation among them) are collected: both must stay empty.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from flowservice.demo import ORG
from tests.e2e.stack import Stack, server_env

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "test-results" / "ui"


# package scope, not session: the sync driver runs an event loop in the main thread until it stops, and the
# tests after these (``asyncio.run`` in tests/unit) need none running
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def stack(emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One server for a module's tests, with the sandbox ``dev`` besides ``prod``."""
    yield from ui_stack(emulator, tmp_path_factory, remote_ui=False)


def ui_stack(emulator, tmp_path_factory: pytest.TempPathFactory, *, remote_ui: bool) -> Iterator[Stack]:
    """The stack, and with ``remote_ui`` a second server whose UI is a client of the first one's API."""
    stack = Stack(emulator, tmp_path_factory.mktemp("ui") / "server", server_env(emulator))
    stack.start()
    try:
        assert stack.server is not None
        stack.server.cli("sandboxes", "create", "--org", ORG, "--name", "dev")
        if remote_ui:
            stack.start_remote_ui()
        yield stack
    finally:
        stack.stop()


@dataclass
class Browsing:
    """One test's browser tab, what it must not do, and its screenshots."""

    context: BrowserContext
    page: Page
    shots: Path
    base_url: str
    aborted: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    steps: int = 0

    def snap(self, step: str) -> None:
        self.steps += 1
        name = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        self.page.screenshot(path=str(self.shots / f"{self.steps:02d}-{name}.png"), full_page=True)

    def go(self, path: str) -> None:
        self.page.goto(self.base_url + path)


def open_browsing(browser: Browser, base_url: str, test_name: str, **options: object) -> Browsing:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)  # type: ignore[arg-type]
    page = context.new_page()
    shots = RESULTS / re.sub(r"[^A-Za-z0-9_]+", "-", test_name)
    if shots.exists():
        shutil.rmtree(shots)
    shots.mkdir(parents=True)
    browsing = Browsing(context, page, shots, base_url)

    def guard(route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            browsing.aborted.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page.on("console", lambda m: browsing.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: browsing.console_errors.append(str(e)))
    return browsing


@pytest.fixture
def browsing(browser: Browser, stack: Stack, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    tab = open_browsing(browser, stack.ui_url, request.node.name)
    yield tab
    tab.context.close()
    assert tab.aborted == [], f"requests left 127.0.0.1: {tab.aborted}"
    # a 4xx page (the 404 of another sandbox's resource, a refused sign-in) is logged by Chromium as a failed
    # resource load: that is the page under test, not a script error
    errors = [e for e in tab.console_errors if "Failed to load resource" not in e]
    assert errors == [], f"console errors: {errors}"


def sign_in(tab: Browsing, stack: Stack, next_path: str = "/ui") -> None:
    tab.go(next_path)
    page = tab.page
    page.get_by_label("Org ID").fill(ORG)
    page.get_by_label("Client ID").fill(stack.credentials["client_id"])
    page.get_by_label("Client secret").fill(stack.credentials["client_secret"])
    page.get_by_role("button", name="Sign in").click()


def serious_violations(page: Page) -> list[str]:
    """axe-core (bundled with axe-playwright-python, offline): the serious and critical violations."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found = results.response.get("violations", [])
    return [
        f"{v['id']} ({v['impact']}): {json.dumps([n['target'] for n in v['nodes']])}"
        for v in found
        if v.get("impact") in ("serious", "critical")
    ]
