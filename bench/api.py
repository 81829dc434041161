"""API overhead: requests/s and p50/p99 latency of ``POST /connections`` and ``GET /connections/{id}`` on a
real ``flowservice serve`` process, against a floor measured in the same run.

The floor is a bare FastAPI app (``bench/_floor_app.py``) served the same way (same ``uvicorn.run`` settings as
``flowservice serve``) and sent the same identity headers, so ``ours / floor`` is what our stack adds: auth,
dependency resolution, the threadpool, validation, SQLite, encryption, JSON.

The load generator (aiohttp, 32 keep-alive connections, one event loop) runs in this process, separate from both
servers. It targets only 127.0.0.1 and every load is bounded by a request count and a time limit. On a 2-core
machine the generator and the server share the CPU, which the printed CPU columns make visible.

With ``--with-run`` the bench also starts a local Dynamics org (``crm_emulator``) and measures the same GET while a
full run of ``--run-contacts`` contacts (default 200,000) is in flight in the server's default embedded mode: one
fresh flow per round, measured from its first commit on; the figure counts only if the run was still in progress
when the measurement ended. The idle GET of the same round stands beside it.

Run: ``.venv/bin/python bench/api.py`` (``--help`` for the knobs; ``--check`` exits 1 when a goal is missed).
Writes its section of ``docs/performance.md`` unless ``--no-doc``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    LOOPBACK,
    ROOT,
    LoadResult,
    Plan,
    free_port,
    machine_summary,
    median,
    run_load,
    start_process,
    stop_process,
    wait_for_quiet,
    write_doc_section,
)

from flowservice.client import BASE, FINAL_STATUSES, FlowServiceClient
from flowservice.domain.catalogue import DYNAMICS_SPEC_ID

ORG = "BENCH00000000000000000000@AdobeOrg"
SEED_AUTH = "Basic Authentication for Dynamics-Online"
SEED_BODY = {
    "name": "Dynamics Connection",
    "description": "connection for Dynamics account",
    "auth": {
        "specName": SEED_AUTH,
        "params": {"serviceUri": "https://example.crm.dynamics.com", "username": "u@contoso.com", "password": "p"},
    },
    "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
}
GOAL_RATIO = 0.40  # ours / floor requests/s, for GET and for POST
GOAL_GET_P99_MS = 25.0
GOAL_GET_P99_IN_FLIGHT_MS = 50.0
DOC_BEGIN = "<!-- bench/api.py: begin (generated; rerun the command to refresh) -->"
DOC_END = "<!-- bench/api.py: end of generated part -->"


@dataclass
class Scenario:
    key: str
    label: str
    plan: Plan
    expect: int
    server: str  # "floor" or "ours"
    during_run: bool = False  # measured while a full run is in flight


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Requests/s and p50/p99 of POST and GET /connections against a bare FastAPI floor."
    )
    parser.add_argument("--requests", type=int, default=10_000, help="measured requests per scenario and round")
    parser.add_argument("--warmup", type=int, default=1_000, help="unmeasured requests before each measurement")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients (= connections)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the report gives medians over rounds")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds at most per measurement")
    parser.add_argument("--connections", type=int, default=500, help="connections created for the GETs to read")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=20.0,
        help="seconds at most to wait, before each measurement, for other processes to leave the CPU idle",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record py-spy profiles (GIL holder, speedscope) of our server in round 1 into DIR (slows those runs)",
    )
    parser.add_argument(
        "--with-run",
        action="store_true",
        help="also measure GET /connections/{id} while a full run is in flight (starts a local Dynamics org)",
    )
    parser.add_argument(
        "--worker-mode",
        choices=("process", "thread"),
        default="process",
        help="FLOWSERVICE_WORKER_MODE of our server (process is the default; thread shows the former layout)",
    )
    parser.add_argument("--run-contacts", type=int, default=200_000, help="contacts in the org for --with-run")
    parser.add_argument(
        "--run-requests", type=int, default=5_000, help="measured GETs per round while the run is in flight"
    )
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/performance.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    return parser.parse_args(argv)


def command_line(argv: list[str]) -> str:
    python = Path(sys.executable)
    try:
        shown = str(python.relative_to(ROOT))
    except ValueError:
        shown = "python"
    return shlex.join([shown, "bench/api.py", *argv])


def server_env() -> dict[str, str]:
    """The environment for the servers: ours on its default embedded SQLite in a fresh data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWSERVICE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def create_client(data_dir: Path, env: dict[str, str]) -> dict[str, str]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowservice",
            "clients",
            "create",
            "--org",
            ORG,
            "--name",
            "bench",
            "--data-dir",
            str(data_dir),
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure(
    scenario: Scenario, args: argparse.Namespace, headers: dict[str, str], pid: int, profile_to: Path | None = None
) -> LoadResult:
    if args.quiet_wait > 0 and not scenario.during_run:  # a run in flight keeps the machine busy on purpose
        wait_for_quiet(args.quiet_wait)

    def load(total: int) -> LoadResult:
        return run_load(
            scenario.plan,
            total=total,
            concurrency=args.concurrency,
            headers=headers,
            time_limit=args.time_limit,
            expect=scenario.expect,
            server_pid=pid,
        )

    warmup, requests = (args.warmup // 2, args.run_requests) if scenario.during_run else (args.warmup, args.requests)
    warm = load(warmup)
    if warm.errors:
        raise RuntimeError(f"{scenario.label} (warm-up): " + "; ".join(warm.errors[:5]))
    profiler = start_profiler(pid, profile_to) if profile_to else None
    try:
        result = load(requests)
    finally:
        if profiler is not None:
            stop_profiler(profiler)
    if result.errors:
        raise RuntimeError(f"{scenario.label}: " + "; ".join(result.errors[:5]))
    return result


class FullRuns:
    """Full runs of the local org's contacts through our API: each on a fresh flow and dataset, so each reads the
    whole table (the default embedded mode executes them in the server's worker processes)."""

    def __init__(self, api: FlowServiceClient, info: dict[str, object]) -> None:
        self.api, self.count = api, 0
        params = {"serviceUri": info["org_url"], "username": info["username"], "password": info["password"]}
        self.connection = api.create_connection("bench org", auth_spec=SEED_AUTH, params=params).id

    def start(self) -> str:
        self.count += 1
        name = f"contacts_{self.count}"
        dataset_id = self.api.create_dataset(name)
        source = self.api.create_source_connection(name, base_connection_id=self.connection, table="contact")
        target = self.api.create_target_connection(name, dataset_id=dataset_id)
        flow = self.api.create_flow(
            name,
            source_connection_id=source.id,
            target_connection_id=target.id,
            transformations=[{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}],
            schedule={"startTime": str(int(time.time()) + 86400), "frequency": "day", "interval": "1"},
        )
        return self.api.start_run(flow.id)

    def state(self, run_id: str) -> tuple[str, int]:
        return numbers(self.api.item(f"/runs/{run_id}"))

    def wait(self, run_id: str, until: str, timeout: float) -> tuple[str, int]:
        """Poll until the run has landed rows (``landing``) or has ended (``final``)."""

        def reached(run: dict[str, Any]) -> bool:
            status, rows = numbers(run)
            return status in FINAL_STATUSES or (until == "landing" and rows > 0)

        return numbers(self.api.wait_for_run(run_id, timeout=timeout, every=0.2, until=reached))


def numbers(run: dict[str, Any]) -> tuple[str, int]:
    """A run's status and the rows it has landed."""
    metrics = run["metrics"]
    return metrics["statusSummary"]["status"], int(metrics["recordSummary"]["outputRecordCount"])


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the thread holding the GIL (what costs CPU in a GIL-bound server) of process ``pid``."""
    output.parent.mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).with_name("py-spy")
    cmd = [str(py_spy) if py_spy.exists() else "py-spy", "record", "--pid", str(pid), "--rate", "250", "--gil"]
    cmd += ["--nonblocking", "--format", "speedscope", "--output", str(output)]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # let it attach
    return process


def stop_profiler(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass
class Summary:
    label: str
    rps: float
    rps_min: float
    rps_max: float
    p50: float
    p99: float
    server_cpu: float
    client_cpu: float
    other_cpu: float
    cpu_ms_per_request: float
    requests: int


def summarize(label: str, results: list[LoadResult]) -> Summary:
    rps = [r.rps for r in results]
    return Summary(
        label,
        median(rps),
        min(rps),
        max(rps),
        median([r.p50 for r in results]),
        median([r.p99 for r in results]),
        median([r.server_cpu_pct for r in results]),
        median([r.client_cpu_pct for r in results]),
        median([r.other_cpu_pct for r in results]),
        median([r.server_cpu_ms_per_request for r in results]),
        sum(r.requests for r in results),
    )


def table(rows: list[Summary], rounds: int) -> str:
    lines = [
        f"| scenario | req/s (median of {rounds}) | req/s range | p50 ms | p99 ms | server CPU ms/req "
        "| server CPU | generator CPU | other processes' CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in rows:
        lines.append(
            f"| {s.label} | {s.rps:,.0f} | {s.rps_min:,.0f}–{s.rps_max:,.0f} | {s.p50:.2f} | "
            f"{s.p99:.2f} | {s.cpu_ms_per_request:.3f} | {s.server_cpu:.0f}% | {s.client_cpu:.0f}% | "
            f"{s.other_cpu:.0f}% |"
        )
    return "\n".join(lines)


def versions() -> str:
    names = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy", "aiohttp")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    env = server_env()
    env["FLOWSERVICE_WORKER_MODE"] = args.worker_mode
    started_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        tmp_path = Path(tmp)
        org: subprocess.Popen[bytes] | None = None
        info: dict[str, object] | None = None
        if args.with_run:
            from ingest import start_emulator

            # contacts are twice the accounts; room for every rendered record, so the org serves from memory
            org, info = start_emulator(
                tmp_path / "org", args.run_contacts // 2, cache_mb=args.run_contacts * 5 // 1000 + 64
            )
            env.update(
                {
                    "FLOWSERVICE_DYNAMICS_AUTHORITY_HOSTS": str(info["authority_host"]),
                    "FLOWSERVICE_DYNAMICS_CA_BUNDLE": str(info["ca_file"]),
                    "FLOWSERVICE_DYNAMICS_ALLOW_PRIVATE_ADDRESSES": "true",
                }
            )
        try:
            summaries, flights = serve_and_measure(args, env, tmp_path, info)
        finally:
            if org is not None:
                stop_process(org)
    return report(args, argv, summaries, flights, started_at)


def serve_and_measure(
    args: argparse.Namespace, env: dict[str, str], tmp_path: Path, info: dict[str, object] | None
) -> tuple[dict[str, Summary], list[dict[str, object]]]:
    data_dir = tmp_path / "data"
    client = create_client(data_dir, env)
    ours_port, floor_port = free_port(), free_port()
    ours_url, floor_url = f"http://{LOOPBACK}:{ours_port}", f"http://{LOOPBACK}:{floor_port}"
    ours = start_process(
        [sys.executable, "-m", "flowservice", "serve", "--data-dir", str(data_dir), "--port", str(ours_port)],
        ours_url + "/health",
        tmp_path / "serve.log",
        env=env,
        cwd=ROOT,
    )
    try:
        floor = start_process(
            [sys.executable, str(ROOT / "bench" / "_floor_app.py"), "--port", str(floor_port)],
            floor_url + "/health",
            tmp_path / "floor.log",
            env=env,
            cwd=ROOT,
        )
        try:
            return run_all(args, client, ours, floor, ours_url, floor_url, info)
        finally:
            stop_process(floor)
    finally:
        stop_process(ours)


def run_all(
    args: argparse.Namespace,
    client: dict[str, str],
    ours: subprocess.Popen[bytes],
    floor: subprocess.Popen[bytes],
    ours_url: str,
    floor_url: str,
    info: dict[str, object] | None = None,
) -> tuple[dict[str, Summary], list[dict[str, object]]]:
    api = FlowServiceClient.login(
        ours_url, org=ORG, client_id=client["client_id"], client_secret=client["client_secret"], timeout=60
    )
    headers = api.headers()
    body = orjson.dumps(SEED_BODY)

    # connections for the GETs to read, created through the API
    ids: list[str] = []

    def keep_id(_number: int, status: int, payload: bytes) -> None:
        if status == 201:
            ids.append(orjson.loads(payload)["id"])

    seeded = run_load(
        lambda _n: ("POST", f"{ours_url}{BASE}/connections", body),
        total=args.connections,
        concurrency=args.concurrency,
        headers=headers,
        time_limit=args.time_limit,
        expect=201,
        on_response=keep_id,
    )
    if seeded.errors or not ids:
        raise RuntimeError("seeding connections failed: " + "; ".join(seeded.errors[:5]))
    item = api.item(f"/connections/{ids[0]}")
    assert item["id"] == ids[0] and item["auth"]["params"]["password"] != "p", "GET must return the masked doc"

    n = len(ids)
    scenarios = [
        Scenario(
            "floor_get",
            "floor GET /floor/items/{id}",
            lambda i: ("GET", f"{floor_url}/floor/items/{ids[i % n]}", None),
            200,
            "floor",
        ),
        Scenario(
            "ours_get",
            "flowservice GET /connections/{id}",
            lambda i: ("GET", f"{ours_url}{BASE}/connections/{ids[i % n]}", None),
            200,
            "ours",
        ),
        Scenario(
            "floor_post", "floor POST /floor/items", lambda _i: ("POST", f"{floor_url}/floor/items", body), 201, "floor"
        ),
        Scenario(
            "ours_post",
            "flowservice POST /connections",
            lambda _i: ("POST", f"{ours_url}{BASE}/connections", body),
            201,
            "ours",
        ),
        Scenario(
            "floor_sync_get",
            "diagnostic: floor GET as a sync `def` route",
            lambda i: ("GET", f"{floor_url}/floor/sync/items/{ids[i % n]}", None),
            200,
            "floor",
        ),
    ]
    runs = FullRuns(api, info) if info is not None else None
    flights: list[dict[str, object]] = []
    if runs is not None:
        scenarios.insert(
            2,
            Scenario(
                "ours_get_run",
                f"flowservice GET /connections/{{id}}, full run of {args.run_contacts:,} contacts in flight",
                lambda i: ("GET", f"{ours_url}{BASE}/connections/{ids[i % n]}", None),
                200,
                "ours",
                during_run=True,
            ),
        )
        started = time.monotonic()
        status, rows = runs.wait(runs.start(), "final", 1800)  # fills the org's cache, warms the workers up
        seconds = time.monotonic() - started
        if status != "success":
            raise RuntimeError(f"the warm-up run ended {status}")
        print(
            f"warm-up run: {rows:,} contacts landed in {seconds:.0f} s ({rows / seconds:,.0f} rows/s, no API load)",
            flush=True,
        )
    pids = {"floor": floor.pid, "ours": ours.pid}
    results: dict[str, list[LoadResult]] = {s.key: [] for s in scenarios}
    for round_number in range(1, args.rounds + 1):
        for scenario in scenarios:
            profile_to = None
            if args.profile and round_number == 1 and scenario.server == "ours":
                profile_to = args.profile / f"{scenario.key}.speedscope.json"
            if scenario.during_run:
                assert runs is not None
                result, flight = measure_in_flight(scenario, args, headers, pids["ours"], runs)
                flights.append(flight)
            else:
                result = measure(scenario, args, headers, pids[scenario.server], profile_to)
            results[scenario.key].append(result)
            print(
                f"round {round_number}/{args.rounds}  {scenario.label:<44} {result.rps:8,.0f} req/s  "
                f"p50 {result.p50:6.2f} ms  p99 {result.p99:6.2f} ms  "
                f"server CPU {result.server_cpu_pct:3.0f}% ({result.server_cpu_ms_per_request:.3f} ms/req)  "
                f"generator {result.client_cpu_pct:3.0f}%  others {result.other_cpu_pct:3.0f}%",
                flush=True,
            )
    return {s.key: summarize(s.label, results[s.key]) for s in scenarios}, flights


def measure_in_flight(
    scenario: Scenario, args: argparse.Namespace, headers: dict[str, str], pid: int, runs: FullRuns
) -> tuple[LoadResult, dict[str, object]]:
    """Start a full run, measure from its first commit on, and tell whether it was still running at the end."""
    run_id = runs.start()
    _, before = runs.wait(run_id, "landing", 600)
    result = measure(scenario, args, headers, pid)
    status, after = runs.state(run_id)
    final, rows = runs.wait(run_id, "final", 1800)
    if final != "success":
        raise RuntimeError(f"the run in flight ended {final}")
    flight: dict[str, object] = {"in_flight": status == "inProgress", "landed_during": after - before, "rows": rows}
    print(
        f"    the run was {'still in progress' if flight['in_flight'] else '**over**'} when the measurement "
        f"ended; it landed {after - before:,} rows during it and {rows:,} in all",
        flush=True,
    )
    return result, flight


def report(
    args: argparse.Namespace,
    argv: list[str],
    summaries: dict[str, Summary],
    flights: list[dict[str, object]],
    started_at: str,
) -> int:
    floor_get, ours_get = summaries["floor_get"], summaries["ours_get"]
    floor_post, ours_post = summaries["floor_post"], summaries["ours_post"]
    sync_get = summaries["floor_sync_get"]
    get_ratio, post_ratio = ours_get.rps / floor_get.rps, ours_post.rps / floor_post.rps
    goals = [
        (f"GET req/s ≥ {GOAL_RATIO:.0%} of the floor", get_ratio >= GOAL_RATIO, f"{get_ratio:.0%}"),
        (f"POST req/s ≥ {GOAL_RATIO:.0%} of the floor", post_ratio >= GOAL_RATIO, f"{post_ratio:.0%}"),
        (f"GET p99 ≤ {GOAL_GET_P99_MS:.0f} ms", ours_get.p99 <= GOAL_GET_P99_MS, f"{ours_get.p99:.1f} ms"),
    ]
    rows = [floor_get, ours_get, floor_post, ours_post, sync_get]
    in_flight = summaries.get("ours_get_run")
    flight_lines: list[str] = []
    if in_flight is not None:
        whole = sum(1 for f in flights if f["in_flight"])
        goals.append(
            (
                f"GET p99 ≤ {GOAL_GET_P99_IN_FLIGHT_MS:.0f} ms with a full run in flight",
                in_flight.p99 <= GOAL_GET_P99_IN_FLIGHT_MS and whole == len(flights),
                f"{in_flight.p99:.1f} ms; the run was in flight to the end in {whole} of {len(flights)} rounds",
            )
        )
        rows.insert(2, in_flight)
        landed = ", ".join(f"{f['landed_during']:,}" for f in flights)
        where = "a worker process of `serve`" if args.worker_mode == "process" else "a thread of `serve`"
        flight_lines.append(
            f"- GET with a full run of {args.run_contacts:,} contacts in flight (embedded mode, the run in "
            f"{where}): p50 {in_flight.p50:.2f} ms / p99 {in_flight.p99:.2f} ms, against "
            f"p50 {ours_get.p50:.2f} ms / p99 {ours_get.p99:.2f} ms idle; {in_flight.rps / ours_get.rps:.0%} of "
            f"the idle requests/s; rows the run landed during each measurement: {landed}"
        )
    ratio_lines = [
        f"- GET: ours/floor requests/s = **{get_ratio:.0%}**; p50 {ours_get.p50:.2f} vs {floor_get.p50:.2f} ms, "
        f"p99 {ours_get.p99:.2f} vs {floor_get.p99:.2f} ms; server CPU per request "
        f"{ours_get.cpu_ms_per_request / floor_get.cpu_ms_per_request:.1f}× the floor's",
        f"- POST: ours/floor requests/s = **{post_ratio:.0%}**; p50 {ours_post.p50:.2f} vs {floor_post.p50:.2f} ms, "
        f"p99 {ours_post.p99:.2f} vs {floor_post.p99:.2f} ms; server CPU per request "
        f"{ours_post.cpu_ms_per_request / floor_post.cpu_ms_per_request:.1f}× the floor's",
        f"- diagnostic: the same bare GET as a sync `def` route runs at {sync_get.rps / floor_get.rps:.0%} of the "
        f"async one's requests/s (+{sync_get.cpu_ms_per_request - floor_get.cpu_ms_per_request:.3f} ms server "
        "CPU per request): the price of one threadpool hop",
        *flight_lines,
    ]
    goal_lines = [f"- {'met' if ok else '**missed**'}: {name} (measured {value})" for name, ok, value in goals]
    busiest = max(rows, key=lambda r: r.other_cpu)
    noise = f"Other processes used up to {busiest.other_cpu:.0f}% of a core during a measurement (median over rounds)"
    if busiest.other_cpu >= 20:
        noise += (
            ": the machine was not quiet, so requests/s and latencies are lower and noisier than on an idle "
            "machine; the server CPU ms/request column is the figure least affected."
        )
    else:
        noise += ": the machine was otherwise quiet."
    command = command_line(argv)

    print()
    print(table(rows, args.rounds))
    print()
    print("\n".join(ratio_lines))
    print("\n".join(goal_lines))
    print(noise)
    print(f"\ncommand: {command}")

    if not args.no_doc:
        body = "\n".join(
            [
                "## API overhead against a bare floor (`bench/api.py`)",
                "",
                f"Command: `{command}` (last run {started_at}; {machine_summary()}; {versions()}).",
                "",
                f"Every round measures each scenario with {args.concurrency} concurrent clients, one keep-alive "
                f"connection each: {args.warmup:,} warm-up requests, then {args.requests:,} measured ones (at most "
                f"{args.time_limit:.0f} s). The table gives the median of {args.rounds} rounds and the range of "
                "requests/s across them; floor and ours alternate within a round, so both see the same conditions. "
                "*Ours* is a real `flowservice serve` process on its default SQLite in a fresh data directory; the "
                f"GETs cycle over {args.connections} connections created through the API, every POST creates one "
                "(the seed document's body). *The floor* is `bench/_floor_app.py`, a bare FastAPI app whose async "
                "routes return small JSON (its POST reads and parses the same body), served by the same "
                '`uvicorn.run(app, log_level="warning", access_log=False)` and sent the same five identity '
                "headers. Latency is timed by the client, from sending the request to the last byte of the response."
                + (
                    f" With a run in flight: each round creates a fresh flow on a local Dynamics org "
                    f"(`crm_emulator`, {args.run_contacts:,} contacts served from its memory), starts its full run, "
                    f"and once its first commit has landed sends {args.warmup // 2:,} warm-up and "
                    f"{args.run_requests:,} measured GETs, then waits for the run to succeed; one unmeasured run "
                    "before the first round fills the org's cache."
                    if args.with_run
                    else ""
                ),
                "",
                table(rows, args.rounds),
                "",
                *ratio_lines,
                "",
                "Goals of the foundation issue, on this machine:",
                *goal_lines,
                "",
                "How far to trust it: the load generator (aiohttp on one uvloop event loop, in the bench process, "
                "separate from both servers) shares the machine's 2 cores with the server. The CPU columns are each "
                "process's CPU time over the measurement, in % of one core. Against the floor the generator needs "
                "about as much CPU as the server, so the floor's requests/s is partly a limit of the generator and "
                "the ratios flatter us somewhat; latencies include the time a response waits for the generator's "
                f"event loop. {noise}",
            ]
        )
        write_doc_section(DOC_BEGIN, DOC_END, body)
        print(f"wrote {Path('docs/performance.md')}")
    return 0 if (not args.check or all(ok for _, ok, _ in goals)) else 1


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"done in {time.monotonic() - started:.0f} s")
    sys.exit(code)
