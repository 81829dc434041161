"""Web UI budgets (issue 13, ``shared/reference/ui.md`` §2.9), measured against the real stack: a crm_emulator
process (560 tables) and a ``flowservice serve`` process, driven by Debian's Chromium through Playwright.

- **Explore, first contentful paint**: the page of one account with every table of its org. *First* is the
  very first load (the server's metadata cache cold too); *cold* is a new browser context each time (no HTTP
  cache, no open connection); *warm* is a reload in the same context. Read from the browser's own
  ``first-contentful-paint`` entry.
- **Filter keystroke**: the time in the page from setting the filter's text to the list updated, over 560
  rows.
- **Shipped**: the scripts and style sheets a page loads, raw and gzip-compressed (level 6).
- **List pages, server time**: each list page fetched over HTTP with the session's cookies; the UI's own time
  is read from its ``Server-Timing`` header (``ui`` = the whole request minus the time spent in API calls).

    .venv/bin/python bench/ui.py            # prints the figures and rewrites its section of docs/performance.md
    .venv/bin/python bench/ui.py --no-doc   # prints only
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_summary, percentile, write_doc_section  # noqa: E402
from playwright.sync_api import Browser, BrowserContext, sync_playwright  # noqa: E402

from flowservice.demo import ORG  # noqa: E402
from tests.e2e.stack import Stack, server_env  # noqa: E402
from tests.fixtures.emulator import launch  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
DOC_BEGIN = "<!-- bench/ui.py: begin (generated; rerun the command to refresh) -->"
DOC_END = "<!-- bench/ui.py: end of generated part -->"
LIST_PAGES = ("sources", "accounts", "dataflows", "datasets", "monitoring")
#: what the list pages list: accounts, a merge and an append flow (and dataset) per table, some of them run
ACCOUNTS = 10
TABLES = ("account", "contact", "lead", "opportunity", "cr6f1_project")
RUNS = 4
TIMING = re.compile(r"api;dur=([0-9.]+).*ui;dur=([0-9.]+)")
FCP_JS = """() => new Promise(resolve => {
  const found = () => performance.getEntriesByName('first-contentful-paint')[0];
  if (found()) return resolve(found().startTime);
  new PerformanceObserver(() => found() && resolve(found().startTime)).observe({type: 'paint', buffered: true});
})"""
FILTER_JS = """(text) => {
  const box = document.querySelector("input[data-filter]");
  const started = performance.now();
  box.value = text;
  box.dispatchEvent(new Event('input', {bubbles: true}));
  return new Promise(resolve => requestAnimationFrame(() => resolve(performance.now() - started)));
}"""


def sign_in(browser: Browser, base: str, credentials: dict[str, str]) -> dict[str, Any]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(base + "/ui/login")
    page.get_by_label("Org ID").fill(ORG)
    page.get_by_label("Client ID").fill(credentials["client_id"])
    page.get_by_label("Client secret").fill(credentials["client_secret"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/ui/s/prod/.*"))
    state: dict[str, Any] = context.storage_state()  # type: ignore[assignment]
    context.close()
    return state


def fcp(context: BrowserContext, url: str, shipped: dict[str, tuple[int, int]] | None = None) -> float:
    page = context.pages[0] if context.pages else context.new_page()
    if shipped is not None:

        def record(response: Any) -> None:
            if response.request.resource_type in ("script", "stylesheet"):
                body = response.body()
                shipped[response.url] = (len(body), len(gzip.compress(body, 6)))

        page.on("response", record)
    page.goto(url, wait_until="load")
    return float(page.evaluate(FCP_JS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="cold and warm loads each (medians reported)")
    parser.add_argument("--requests", type=int, default=30, help="requests per list page")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/performance.md")
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="flowservice-bench-ui-") as tmp:
        emulator = launch(Path(tmp) / "org")
        stack = Stack(emulator, Path(tmp) / "server", server_env(emulator))
        try:
            stack.start()
            assert stack.server is not None
            base, connection = stack.server.url, stack.connection()
            for _ in range(ACCOUNTS - 1):
                stack.connection()
            flows = [stack.flow(connection, table, mode) for table in TABLES for mode in ("merge", "append")]
            for flow in flows[:RUNS]:
                stack.wait(stack.trigger(flow))
            figures = measure(base, connection, stack.credentials, args)
        finally:
            stack.stop()
            emulator.stop()
    report(figures, args, time.time() - started)


def measure(base: str, connection: str, credentials: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    explore = f"{base}/ui/s/prod/accounts/{connection}/explore"
    shipped: dict[str, tuple[int, int]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        state = sign_in(browser, base, credentials)
        first_context = browser.new_context(storage_state=state)  # type: ignore[arg-type]
        first = fcp(first_context, explore, shipped)
        tables = first_context.pages[0].locator("#table-list li").count()
        first_context.close()
        cold = []
        for _ in range(args.repeat):
            context = browser.new_context(storage_state=state)  # type: ignore[arg-type]
            cold.append(fcp(context, explore))
            context.close()
        context = browser.new_context(storage_state=state)  # type: ignore[arg-type]
        fcp(context, explore)
        warm = [fcp(context, explore) for _ in range(args.repeat)]
        page = context.pages[0]
        keystrokes = [float(page.evaluate(FILTER_JS, text)) for text in ("a", "ac", "acc", "contact", "", "x", "")]
        context.close()
        browser.close()
    cookies = {c["name"]: c["value"] for c in state["cookies"]}
    lists: dict[str, tuple[list[float], list[float]]] = {}  # page → (UI's own ms, whole request ms)
    with httpx.Client(base_url=base, cookies=cookies, timeout=30) as http:
        for name in LIST_PAGES:
            own, whole = [], []
            for _ in range(args.requests):
                response = http.get(f"/ui/s/prod/{name}")
                found = TIMING.search(response.headers.get("server-timing", ""))
                if response.status_code != 200 or found is None:
                    break  # a screen this build does not have
                own.append(float(found.group(2)))
                whole.append(float(found.group(1)) + float(found.group(2)))
            if own:
                lists[name] = (sorted(own), sorted(whole))
    return {
        "tables": tables,
        "first": first,
        "cold": cold,
        "warm": warm,
        "keystrokes": keystrokes,
        "shipped": shipped,
        "lists": lists,
    }


def report(figures: dict[str, Any], args: argparse.Namespace, seconds: float) -> None:
    shipped = figures["shipped"]
    js = [(url, raw, packed) for url, (raw, packed) in shipped.items() if url.endswith(".js")]
    css = [(url, raw, packed) for url, (raw, packed) in shipped.items() if url.endswith(".css")]
    js_gzip, css_gzip = sum(p for _, _, p in js), sum(p for _, _, p in css)
    cold, warm = statistics.median(figures["cold"]), statistics.median(figures["warm"])
    keystroke = max(figures["keystrokes"])
    rows = [
        ("explore FCP, first load (server cache cold too)", f"{figures['first']:.0f} ms", "≤ 1,000 ms"),
        (f"explore FCP, cold browser (median of {args.repeat})", f"{cold:.0f} ms", "≤ 1,000 ms"),
        (f"explore FCP, warm (median of {args.repeat})", f"{warm:.0f} ms", "≤ 500 ms"),
        (f"filter keystroke over {figures['tables']} tables (slowest of 7)", f"{keystroke:.1f} ms", "≤ 50 ms"),
        ("JavaScript shipped, gzip", f"{js_gzip / 1024:.1f} KB", "≤ 25 KB"),
        ("CSS shipped, gzip", f"{css_gzip / 1024:.1f} KB", "≤ 15 KB"),
    ]
    for name, (own, whole) in figures["lists"].items():
        rows.append(
            (
                f"`/ui/s/prod/{name}`: UI server time p50 / p95, and the whole request's p50 ({len(own)} requests)",
                f"{percentile(own, 50):.1f} / {percentile(own, 95):.1f} ms; {percentile(whole, 50):.1f} ms",
                "p50 ≤ 100 ms",
            )
        )
    lines = [
        "## Web UI budgets (`bench/ui.py`)",
        "",
        f"Command: `.venv/bin/python bench/ui.py` (last run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; "
        f"{machine_summary()}; Debian Chromium, headless; {seconds:.0f} s).",
        "",
        f"A crm_emulator process and a `flowservice serve` process on this machine; {ACCOUNTS} accounts, "
        f"{2 * len(TABLES)} dataflows and datasets, {RUNS} of them run; the explore page lists every table of the "
        "org. FCP is the browser's `first-contentful-paint`; the UI server time is the `ui` part of the page's "
        "`Server-Timing` header (the request's time minus its API calls).",
        "",
        "| what | measured | budget |",
        "| --- | ---: | ---: |",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
        "Shipped files: "
        + ", ".join(f"`{url.rsplit('/', 1)[-1]}` {raw:,} B ({packed:,} B gzip)" for url, raw, packed in js + css)
        + ".",
    ]
    body = "\n".join(lines)
    print(body)
    print(json.dumps({k: v for k, v in figures.items() if k != "shipped"}, indent=None)[:2000])
    if not args.no_doc:
        write_doc_section(DOC_BEGIN, DOC_END, body)


if __name__ == "__main__":
    main()
