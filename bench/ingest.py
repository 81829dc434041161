"""Ingest benchmark: land N ``account`` rows from the local Dynamics org into a Delta dataset.

Prints rows/s, MB/s and peak RSS for a full first run, next to a floor measured in the same run against the
same emulator: fetching every page of the load over HTTPS and parsing it with orjson, discarding the result.
"Every page" means the pages the run itself reads: the floor records the connector's first request (its
``$select`` of every column, the lookup annotations, change tracking, the product's page size) and follows the
next links from there. Our run is measured in a child process of its own so its peak RSS is its own; it runs at
N rows and at N/10 rows to show that memory does not grow with the table.

A diagnostic follows: the same loop over a bare request (``accounts`` without ``$select`` or annotations, pages
of 5,000), which carries fewer bytes per row; ours is also given as a share of that.

    .venv/bin/python bench/ingest.py --rows 1000000

``--realistic`` measures what a real org allows instead: the emulator with its cost model (server execution
time per page, spent waiting), service protection per user and web server, two web servers and random GUIDs;
one run by the single chain and one partitioned (docs/architecture.md, *Partitioned reads*), each beside the
ceiling that the emulator's execution-time budget allows for the columns the run reads.

    .venv/bin/python bench/ingest.py --realistic --rows 1000000

``--labels`` compares a run with choice labels on (``choiceLabels``: a ``<column>_label`` beside each of the
account's choice columns, docs/adding-a-source.md §3.5) with the same run with them off, alternating, against an
org with CRM semantics; the goal is labels on at ≥ 85% of the rate off. It prints and writes no doc.

    .venv/bin/python bench/ingest.py --labels --rows 200000

``--against REV`` runs our path at this checkout and at git revision ``REV`` (a temporary worktree), alternating
on one emulator, and prints CPU seconds per 1,000,000 rows and rows/s of each, with their medians.

    .venv/bin/python bench/ingest.py --against HEAD~3 --rows 100000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine_summary, write_doc_section
from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID, DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID
from flowservice.settings import Settings

ORG = "BENCH@AdobeOrg"

NOTES = """\
How the ingest path spends its time and memory (what the figures above measure):

- **The floor reads the same pages.** It records the connector's first request and follows the next links: a
  `$select` of 117 columns, the lookup-target annotations (~590 bytes a row; polymorphic lookups need them),
  change tracking and the product's page size. The bare request on the diagnostic line carries ~15% fewer
  bytes per row in pages of 5,000. Before the measurements the emulator renders every record once into its
  memory (`--cache-mb`), so neither side waits on rendering and the emulator's own CPU (it shares the two
  cores) stays out of the comparison; then floor and ours alternate, three times, and medians are reported.
- **Pages become Arrow in C++, whole.** `sources/dynamics/convert.PageDecoder` parses a page's
  bytes with Arrow's JSON reader against a schema built from metadata (numbers from their own digits,
  decimals never through a float, ISO date-times to UTC, GUIDs lower-cased); any page Arrow does not read
  exactly as the exact path would goes to the exact path (orjson, column-wise), which defines the behaviour.
  Arrow holds no lock while it parses, so the engine and the next page's fetch use the other core meanwhile.
  (Cutting pages in two and parsing the halves in two threads, as before 2026-12-06, cost a fifth more CPU.)
- **Four threads overlap, and the GIL is what they share.** The next page is fetched while the current one is
  decoded (`readahead.py`, one page ahead), and the engine maps and commits in its own thread while pages are
  read (`PagesAhead`). `py-spy --gil` on a 200,000-row run: the interpreter lock is held ~70% of the time —
  httpx/h11 handling each page's TLS records (a read takes every record the socket holds, up to 256 KB:
  `sources/net/guard.py`; the floor reads them one 16 KB record at a time), the engine's
  per-page mapping and per-commit bookkeeping (~11 µs a row), decode orchestration (~6 µs). That, not CPU
  (about 1.3 of 2 cores busy), is what holds us near 80% of the floor: the floor is one thread and never
  waits for the lock.
- **Memory is bounded by the page and the commit, not the table.** A page's bytes go into an Arrow buffer of
  the exact size, httpx's response/stream cycle is broken so bytes are freed when decoded, Arrow's pool
  and delta-rs's are both jemalloc, which hands freed pages back after 1 s (`lake/__init__.py`).
  Workers never import DuckDB or `pyarrow.dataset` (~55 MB of resident libraries) unless a query or a key
  lookup needs them. The append shortcut of `lake/delta.py` checks a batch's keys against each file's key
  range in the Delta log, so a first load in key order reads no data file; keys whose ranges meet (random
  GUIDs) are checked against an index of the table's keys, 8 bytes a key, built once (`lake/key_index.py`);
  tables checkpoint every 20 commits, so opening one each commit stays under ~12 ms (with the default 100 it
  grew to ~55 ms and the run slowed down as the table grew).
- **Defaults chosen for memory.** `page_size` 1,600 rows (~7 MB of JSON a page for `account`),
  `commit_every_rows` 6,400, one page read ahead. At a million rows: 157 commits and files of ~1.1 MB (run
  `optimize` to compact them); a crash redoes at most 6,400 rows.
"""


def start_emulator(
    data_dir: Path, scale: int, cache_mb: int = 256, extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "emulator.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crm_emulator",
            "dynamics",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--scale",
            str(scale),
            "--seed",
            "3",
            "--cache-mb",
            str(cache_mb),
            *extra,
        ],
        stdout=log,
        stderr=log,
    )
    info_path = data_dir / "emulator.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((data_dir / "emulator.log").read_text())
        if info_path.exists():
            return process, json.loads(info_path.read_text())
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the emulator did not start")


def _token(info: dict[str, Any]) -> str:
    return str(
        httpx.post(
            f"{info['authority']}/oauth2/v2.0/token",
            verify=info["ca_file"],
            data={
                "grant_type": "client_credentials",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
                "scope": f"{info['org_url']}/.default",
            },
        ).json()["access_token"]
    )


def fetch_and_parse(info: dict[str, Any], url: str, headers: dict[str, str], rows: int) -> dict[str, float]:
    """Follow next links from ``url`` until ``rows`` rows: every page over HTTPS, parsed with orjson, dropped."""
    seen = size = 0
    started = time.perf_counter()
    with httpx.Client(verify=info["ca_file"], timeout=120, headers=headers) as client:
        link: str | None = url
        while link and seen < rows:
            body = client.get(link).content
            size += len(body)
            page = orjson.loads(body)
            seen += len(page["value"])
            link = page.get("@odata.nextLink")
    seconds = time.perf_counter() - started
    return {"rows": seen, "seconds": seconds, "rows_per_s": seen / seconds, "mb_per_s": size / seconds / 1e6}


def bare(info: dict[str, Any], rows: int) -> dict[str, float]:
    """The diagnostic: ``accounts`` with no options but pages of 5,000."""
    headers = {
        "Authorization": f"Bearer {_token(info)}",
        "Prefer": "odata.maxpagesize=5000",
        "Accept": "application/json",
        "OData-Version": "4.0",
    }
    return fetch_and_parse(info, info["api_url"] + "accounts", headers, rows)


class Recording(httpx.HTTPTransport):
    """A transport that keeps the requests it sends: the connector's own first page request, as it goes out."""

    def __init__(self, ca_file: str) -> None:
        super().__init__(verify=ca_file)
        self.seen: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return super().handle_request(request)


def floor(info: dict[str, Any], rows: int) -> dict[str, float]:
    """The connector's first request, recorded as it goes out, then the floor's loop from there."""
    from flowservice.settings import Settings
    from flowservice.sources.dynamics import DynamicsSettings, DynamicsSource

    transport = Recording(info["ca_file"])
    settings = DynamicsSettings(
        authority_hosts_extra=(info["authority_host"],),
        ca_bundle=info["ca_file"],
        allow_private_addresses=True,
        transport=transport,
        read_ahead_pages=0,
        partition_min_rows=0,  # the single chain's first page request, not a partitioned read's key scan
    )
    source = DynamicsSource(
        {"serviceUri": info["org_url"], "username": info["username"], "password": info["password"]},
        auth_kind="basic",
        settings=settings,
    )
    pages = source.read("account", None, None, page_size=Settings().page_size)
    next(pages)
    pages.close()
    source.close()
    first = next(r for r in transport.seen if "/accounts?" in str(r.url))
    headers = {
        k: v
        for k, v in first.headers.items()
        if k.lower() in ("authorization", "prefer", "accept", "odata-version", "odata-maxversion", "cache-control")
    }
    result = fetch_and_parse(info, str(first.url), headers, rows)
    result["columns"] = len(first.url.params.get("$select", "").split(","))
    return result


def child(info_path: str, rows: int, work: str, labels: bool = False) -> None:
    """Our whole path in this process: source pages → Arrow → mapping → Delta commits, one run."""
    from flowservice.bootstrap import build
    from flowservice.domain.tenancy import Principal, Tenant
    from flowservice.settings import Settings

    info = json.loads(Path(info_path).read_text())
    os.environ.update(
        {
            "FLOWSERVICE_DYNAMICS_AUTHORITY_HOSTS": info["authority_host"],
            "FLOWSERVICE_DYNAMICS_CA_BUNDLE": info["ca_file"],
            "FLOWSERVICE_DYNAMICS_ALLOW_PRIVATE_ADDRESSES": "true",
        }
    )
    container = build(Settings(data_dir=Path(work)))
    tenant, who = Tenant(ORG, "prod"), Principal("bench", ORG)
    connection = container.connections.create(
        tenant,
        who,
        {
            "name": "bench",
            "connectionSpec": {"id": DYNAMICS_SPEC_ID},
            "auth": {
                "specName": "Basic Authentication for Dynamics-Online",
                "params": {"serviceUri": info["org_url"], "username": info["username"], "password": info["password"]},
            },
        },
    )
    source = container.source_connections.create(
        tenant,
        who,
        {
            "name": "accounts",
            "baseConnectionId": connection.id,
            "data": {"format": "tabular"},
            "params": {"tableName": "account", **({"choiceLabels": True} if labels else {})},
            "connectionSpec": {"id": DYNAMICS_SPEC_ID},
        },
    )
    dataset = container.catalog.create_dataset(tenant, who, {"name": "accounts"})
    target = container.target_connections.create(
        tenant,
        who,
        {
            "name": "accounts",
            "params": {"dataSetId": dataset},
            "connectionSpec": {"id": DATA_LAKE_SPEC_ID},
        },
    )
    flow = container.flows.create(
        tenant,
        who,
        {
            "name": "accounts",
            "flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID},
            "sourceConnectionIds": [source.id],
            "targetConnectionIds": [target.id],
            "transformations": [{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}],
            "scheduleParams": {"startTime": 1, "frequency": "once"},
        },
    )
    run = container.runs.create(tenant, who, {"flowId": flow.id})
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    assert container.worker().run_once()
    seconds = time.perf_counter() - started
    doc = container.runs.get(tenant, run.id).doc
    metrics = doc["metrics"]
    print(
        json.dumps(
            {
                "status": metrics["statusSummary"]["status"],
                "errors": metrics["statusSummary"]["errors"],
                "rows": metrics["recordSummary"]["outputRecordCount"],
                "seconds": seconds,
                "input_bytes": metrics["sizeSummary"]["inputBytes"],
                "output_bytes": metrics["sizeSummary"]["outputBytes"],
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "cpu_seconds": _cpu_seconds(),
                "cpu_seconds_before_run": cpu_before,
                "throttled_requests": metrics["statusSummary"]["extensions"].get("throttledRequests", 0),
                "throttled_seconds": metrics["statusSummary"]["extensions"].get("throttledWaitSeconds", 0.0),
            }
        )
    )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ours(
    info_dir: Path,
    rows: int,
    work: Path,
    env: dict[str, str] | None = None,
    labels: bool = False,
    script: Path = Path(__file__),
) -> dict[str, Any]:
    """One run in a child process; ``script`` is this file in another checkout to run that checkout's code."""
    out = subprocess.run(
        [
            sys.executable,
            str(script),
            "--child",
            str(info_dir / "emulator.json"),
            "--rows",
            str(rows),
            "--work",
            str(work),
            *(["--choice-labels"] if labels else []),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-4000:])
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["status"] != "success" or result["rows"] != rows:
        raise RuntimeError(f"the run did not land {rows} rows: {result}")
    result["rows_per_s"] = result["rows"] / result["seconds"]
    result["mb_per_s"] = result["input_bytes"] / result["seconds"] / 1e6
    result["cpu_per_million"] = (result["cpu_seconds"] - result["cpu_seconds_before_run"]) / rows * 1_000_000
    return result


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(results, key=lambda r: r["rows_per_s"])[len(results) // 2]


def first_request(info: dict[str, Any]) -> httpx.URL:
    """The URL of the connector's first page request of ``account``, recorded as it goes out (one page)."""
    from flowservice.sources.dynamics import DynamicsSettings, DynamicsSource

    transport = Recording(info["ca_file"])
    settings = DynamicsSettings(
        authority_hosts_extra=(info["authority_host"],),
        ca_bundle=info["ca_file"],
        allow_private_addresses=True,
        transport=transport,
        read_ahead_pages=0,
        partition_min_rows=0,
    )
    source = DynamicsSource(
        {"serviceUri": info["org_url"], "username": info["username"], "password": info["password"]},
        auth_kind="basic",
        settings=settings,
    )
    pages = source.read("account", None, None, page_size=1)
    next(pages)
    pages.close()
    source.close()
    return next(r for r in transport.seen if "/accounts?" in str(r.url)).url


def _admin(info: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    response = httpx.request(method, info["org_url"] + path, verify=info["ca_file"], timeout=60)
    response.raise_for_status()
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def ceiling(protection: dict[str, Any], columns: int, page_rows: int = 5000) -> float:
    """Rows/s that the execution-time budget of every web server allows for pages of ``page_rows`` rows of
    ``columns`` properties, by the emulator's default cost model (``crm_emulator/cost.py``)."""
    from crm_emulator.cost import CostModel

    cost = CostModel()
    per_row = cost.fixed_ms / 1000 / page_rows + (cost.per_row_us + cost.per_column_us * columns) / 1e6
    limits = protection["limits"]
    budget = limits["execution_seconds"] / limits["window_seconds"] * len(protection["web_servers"])
    return budget / per_row


def realistic(args: argparse.Namespace) -> None:
    """Single chain against partitioned on an org that costs and limits like a real one."""
    rows = args.rows
    root = Path(tempfile.mkdtemp(prefix="flowservice-ingest-realistic-"))
    # rendered before the clock starts, so neither mode pays for the emulator's first rendering of a row
    extra = ["--cost-model", "--service-protection", "--random-guids", "--prerender", "account"]
    if args.window_seconds:
        extra += ["--protection-window-seconds", str(args.window_seconds)]
    lines = [
        "| mode | rows/s | seconds | share of the ceiling | 429s | waited s | server execution s | "
        "max window execution s (limit) | CPU s per 1M rows | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    results: dict[str, dict[str, Any]] = {}
    try:
        emulator, info = start_emulator(root / "org", rows, cache_mb=rows * 5 // 1000 + 64, extra=tuple(extra))
        try:
            url = first_request(info)
            columns = len(url.params.get("$select", "").split(","))
            top = ceiling(_admin(info, "GET", "/_emulator/protection"), columns)
            modes = (  # the second is the product's default, which partitions because this org's pages are slow
                ("single chain", {"FLOWSERVICE_DYNAMICS_PARTITION_MIN_ROWS": "0"}),
                ("partitioned", {}),
            )
            for n, (mode, env) in enumerate(modes):
                _admin(info, "DELETE", "/_emulator/protection")  # each run starts with a fresh budget
                run = ours(root / "org", rows, root / f"server-{n}", env)
                budgets = _admin(info, "GET", "/_emulator/protection")
                limit = budgets["limits"]["execution_seconds"]
                executed = sum(b["execution_seconds"] for b in budgets["budgets"])
                window_max = max((b["max_window_execution_seconds"] for b in budgets["budgets"]), default=0.0)
                cpu = (run["cpu_seconds"] - run["cpu_seconds_before_run"]) / rows * 1_000_000
                results[mode] = run
                lines.append(
                    f"| {mode} | {run['rows_per_s']:,.0f} | {run['seconds']:.1f} | {run['rows_per_s'] / top:.0%} | "
                    f"{run['throttled_requests']} | {run['throttled_seconds']:.1f} | {executed:.0f} | "
                    f"{window_max:.0f} ({limit:.0f}) | {cpu:.0f} | {run['peak_rss_mb']:.0f} |"
                )
                print(lines[-1], flush=True)
        finally:
            emulator.terminate()
            emulator.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    single, parted = results["single chain"], results["partitioned"]
    verdict = (
        f"Ceiling from the execution-time budget: {top:,.0f} rows/s ({columns} columns a row, pages of 5,000, "
        f"the emulator's default cost model, every web server's budget). Partitioned: "
        f"{parted['rows_per_s'] / top:.0%} of it (goal ≥ 80%), {parted['rows_per_s'] / single['rows_per_s']:.1f}× "
        f"the single chain (goal ≥ 5×); peak RSS {parted['peak_rss_mb']:.0f} MB (goal ≤ 500 MB)."
    )
    table = "\n".join(lines)
    print(table)
    print(verdict)
    if not args.no_doc:
        window = f" --window-seconds {args.window_seconds:g}" if args.window_seconds else ""
        command = f".venv/bin/python bench/ingest.py --realistic --rows {rows}{window}"
        body = f"Command: `{command}`  \nMachine: {machine_summary()}\n\n{table}\n\n{verdict}\n"
        write_doc_section(
            "<!-- ingest-realistic:begin -->",
            "<!-- ingest-realistic:end -->",
            "## Ingest on a realistic org (bench/ingest.py --realistic)\n\n" + body,
        )


def labels_comparison(args: argparse.Namespace) -> None:
    """Our run with choice labels off and on, alternating over ``--rounds``, against one org with CRM semantics."""
    root = Path(tempfile.mkdtemp(prefix="flowservice-labels-"))
    try:
        emulator, _ = start_emulator(
            root / "org", args.rows, cache_mb=args.rows * 6 // 1000 + 64, extra=("--crm-semantics",)
        )
        try:
            off, on = [], []
            for n in range(args.rounds):
                off.append(ours(root / "org", args.rows, root / f"off-{n}"))
                on.append(ours(root / "org", args.rows, root / f"on-{n}", labels=True))
                print(
                    f"{args.rows:,} rows, round {n + 1}: labels off {off[-1]['rows_per_s']:,.0f} rows/s, "
                    f"on {on[-1]['rows_per_s']:,.0f} rows/s",
                    flush=True,
                )
        finally:
            emulator.terminate()
            emulator.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    a, b = _median(off)["rows_per_s"], _median(on)["rows_per_s"]
    print(f"labels on: {b:,.0f} rows/s, {b / a:.0%} of labels off ({a:,.0f} rows/s; medians; goal ≥ 85%)")


def against(args: argparse.Namespace) -> None:
    """Our run at this checkout against our run at ``--against`` (a git revision), alternating, on one org.

    The revision is checked out in a temporary git worktree and its own ``bench/ingest.py`` runs the child, so
    each side runs its own code in the same venv, against the same emulator, on the same machine minutes apart.
    Prints per round and the medians; writes no doc (the command and the figures go where they are discussed).
    """
    repo = Path(__file__).resolve().parent.parent
    root = Path(tempfile.mkdtemp(prefix="flowservice-ingest-against-"))
    other = root / "checkout"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(other), args.against], check=True)
    sides = {args.against: other / "bench" / "ingest.py", "this checkout": Path(__file__).resolve()}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    try:
        emulator, _ = start_emulator(root / "org", args.rows, cache_mb=args.rows * 5 // 1000 + 64)
        try:
            ours(root / "org", args.rows, root / "warm-up")  # the emulator renders every record once
            for n in range(args.rounds):
                for name, script in sides.items():
                    run = ours(root / "org", args.rows, root / f"{n}-{len(runs[name])}-{name[:8]}", script=script)
                    runs[name].append(run)
                    print(
                        f"{args.rows:,} rows, round {n + 1}, {name}: {run['cpu_per_million']:.1f} CPU s per 1M rows, "
                        f"{run['rows_per_s']:,.0f} rows/s, peak RSS {run['peak_rss_mb']:.0f} MB",
                        flush=True,
                    )
        finally:
            emulator.terminate()
            emulator.wait()
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(other)], check=False)
        shutil.rmtree(root, ignore_errors=True)
    base, mine = (statistics.median(r["cpu_per_million"] for r in runs[name]) for name in sides)
    base_rate, my_rate = (statistics.median(r["rows_per_s"] for r in runs[name]) for name in sides)
    print(
        f"medians of {args.rounds}: {args.against} {base:.1f} CPU s per 1M rows ({base_rate:,.0f} rows/s), this "
        f"checkout {mine:.1f} ({my_rate:,.0f} rows/s): {mine / base:.0%} of the CPU, {my_rate / base_rate:.0%} of "
        "the rate"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3, help="floor/ours measurements per size (medians reported)")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/performance.md")
    parser.add_argument("--realistic", action="store_true", help="a real org's costs and limits (see above)")
    parser.add_argument("--labels", action="store_true", help="choice labels on against off (see above)")
    parser.add_argument("--choice-labels", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--against", metavar="REV", help="our run here against our run at git revision REV")
    parser.add_argument(
        "--window-seconds",
        type=float,
        default=None,
        help="--realistic: shorten service protection's 5-minute window (budgets scale in proportion)",
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, args.work, args.choice_labels)
        return
    if args.labels:
        labels_comparison(args)
        return
    if args.against:
        against(args)
        return
    if args.realistic:
        realistic(args)
        return
    root = Path(tempfile.mkdtemp(prefix="flowservice-ingest-"))
    results: dict[int, dict[str, Any]] = {}
    try:
        for rows in (args.rows // 10, args.rows):
            # Room for every record in the connector's shape: a first pass renders them, then the floor and
            # our run are both served from memory and the emulator's CPU stays out of the comparison.
            emulator, info = start_emulator(root / f"org-{rows}", rows, cache_mb=rows * 5 // 1000 + 64)
            try:
                floor(info, rows)
                floors, runs = [], []
                for n in range(args.rounds):  # alternating, so a busy spell of the shared machine hits both
                    floors.append(floor(info, rows))
                    runs.append(ours(root / f"org-{rows}", rows, root / f"server-{rows}-{n}"))
                    print(
                        f"{rows:,} rows, round {n + 1}: floor {floors[-1]['rows_per_s']:,.0f} rows/s, ours "
                        f"{runs[-1]['rows_per_s']:,.0f} rows/s, {runs[-1]['cpu_per_million']:.1f} CPU s per 1M rows, "
                        f"peak RSS {runs[-1]['peak_rss_mb']:.0f} MB",
                        flush=True,
                    )
                results[rows] = {
                    "floor": _median(floors),
                    "ours": _median(runs),
                    "floors": floors,
                    "runs": runs,
                    "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
                }
                if rows == args.rows:
                    results[rows]["bare"] = bare(info, min(rows, 200_000))
            finally:
                emulator.terminate()
                emulator.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    big, small = results[args.rows], results[args.rows // 10]
    lines = [
        f"| rows | floor rows/s (median of {args.rounds}) | floor MB/s | ours rows/s (median) | ours MB/s | ours/floor "
        "| ours/floor per round | CPU s per 1M rows (median) | peak RSS MB (max) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rows, r in sorted(results.items()):
        pairs = zip(r["floors"], r["runs"], strict=True)
        each = ", ".join(f"{o['rows_per_s'] / f['rows_per_s']:.0%}" for f, o in pairs)
        lines.append(
            f"| {rows:,} | {r['floor']['rows_per_s']:,.0f} | {r['floor']['mb_per_s']:.1f} | "
            f"{r['ours']['rows_per_s']:,.0f} | {r['ours']['mb_per_s']:.1f} | "
            f"{r['ours']['rows_per_s'] / r['floor']['rows_per_s']:.0%} | {each} | "
            f"{statistics.median(o['cpu_per_million'] for o in r['runs']):.1f} | {r['peak_rss_mb']:.0f} |"
        )
    ratio = big["peak_rss_mb"] / small["peak_rss_mb"]
    table = "\n".join(lines)
    verdict = (
        f"Throughput {big['ours']['rows_per_s'] / big['floor']['rows_per_s']:.0%} of the floor (medians; goal "
        f"≥ 80%); peak RSS {big['peak_rss_mb']:.0f} MB (goal ≤ 400 MB), {ratio:.2f}× the peak at "
        f"{args.rows // 10:,} rows (goal ≤ 1.2×)."
    )
    shown = big["bare"]
    diagnostic = (
        f"The floor's requests are the connector's own ($select of {big['floor']['columns']} columns, lookup "
        f"annotations, change tracking, pages of {Settings().page_size}). Diagnostic: a bare request "
        f"(`accounts`, no $select or annotations, pages of 5,000) is served at {shown['rows_per_s']:,.0f} "
        f"rows/s ({shown['mb_per_s']:.1f} MB/s, fetch and orjson only, {shown['rows']:,} rows); ours is "
        f"{big['ours']['rows_per_s'] / shown['rows_per_s']:.0%} of that."
    )
    print(table)
    print(verdict)
    print(diagnostic)
    if not args.no_doc:
        command = f".venv/bin/python bench/ingest.py --rows {args.rows} --rounds {args.rounds}"
        body = (
            f"Command: `{command}`  \nMachine: {machine_summary()}\n\n{table}\n\n{verdict}\n\n{diagnostic}\n\n{NOTES}"
        )
        write_doc_section("<!-- ingest:begin -->", "<!-- ingest:end -->", "## Ingest (bench/ingest.py)\n\n" + body)


if __name__ == "__main__":
    main()
