"""Abuse: does one hostile tenant slow down another? ``GET /connections/{id}`` of tenant B at 32 clients, measured
on a real ``flowservice serve`` with no flood and then under each flood, in the same run.

Loads (one function each, ``FLOODS`` lists them):

- ``slow_drip``: tenant A keeps 50 requests in flight to ``test`` and ``explore`` of connections whose
  ``serviceUri`` is a local HTTPS server that drips its 401 challenge one byte every half second (the hostile
  server of ``tests/fixtures/hostile.py``; ``FLOWSERVICE_DYNAMICS_ALLOW_PRIVATE_ADDRESSES=true``). A client
  that gets 429 waits its ``Retry-After`` unless ``--ignore-retry-after`` (then it asks again at once).

- ``token``: wrong-secret requests for tenant A's client id from several threads (``bench/_flood.py``), which
  the server answers 401 until the client's and the address's failure budgets are spent, then 429.
- ``both``: the two at once, as the hardening issue asks.

Goal under every flood: p50 ≤ 20 ms and p99 ≤ 100 ms. The load generator, the flood and the hostile server run
in this process, apart from the server under test; every target is on 127.0.0.1 and every load is bounded.
On a busy machine the figures are provisional. Run: ``.venv/bin/python bench/abuse.py`` (``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import LOOPBACK, ROOT, LoadResult, free_port, run_load, start_process, stop_process, wait_for_quiet
from _flood import flood_token_endpoint

from flowservice.client import BASE, FlowServiceClient
from tests.fixtures.hostile import API_ROOT, HostileServer, challenge_header, slow_drip

ORG_A = "ABUSER000000000000000000@AdobeOrg"
ORG_B = "VICTIM000000000000000000@AdobeOrg"
GOAL_P50_MS = 20.0
GOAL_P99_MS = 100.0


@dataclass
class Stack:
    url: str
    pid: int
    a: FlowServiceClient
    b: FlowServiceClient
    hostile: HostileServer
    b_connections: list[str] = field(default_factory=list)


@dataclass
class FloodStats:
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Tenant B's GET latency with and without a flood from tenant A.")
    parser.add_argument("--concurrency", type=int, default=32, help="tenant B's concurrent clients")
    parser.add_argument("--requests", type=int, default=20_000, help="measured requests per scenario at most")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per measurement at most")
    parser.add_argument("--flood", type=int, default=50, help="tenant A's requests in flight")
    parser.add_argument("--warm-up", type=float, default=10.0, help="seconds the flood runs before measuring")
    parser.add_argument("--token-threads", type=int, default=8, help="threads of the wrong-secret flood")
    parser.add_argument("--ignore-retry-after", action="store_true", help="flood clients ask again at once")
    parser.add_argument("--quiet-wait", type=float, default=10.0, help="seconds at most to wait for an idle CPU")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------ the stack
def flowservice(*args: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "flowservice", *args], check=True, capture_output=True, text=True, env=env, cwd=ROOT
    )
    return out.stdout


def tenant(url: str, org: str, data_dir: Path, env: dict[str, str]) -> FlowServiceClient:
    created = json.loads(
        flowservice("clients", "create", "--org", org, "--name", "abuse", "--data-dir", str(data_dir), env=env)
        .strip()
        .splitlines()[-1]
    )
    return FlowServiceClient.login(
        url, org=org, client_id=created["client_id"], client_secret=created["client_secret"], timeout=30
    )


def create_connection(who: FlowServiceClient, service_uri: str) -> str:
    params = {"serviceUri": service_uri, "username": "u@contoso.example", "password": "p"}
    return who.create_connection("abuse", auth_spec="Basic Authentication for Dynamics-Online", params=params).id


def start(tmp: Path) -> tuple[Stack, subprocess.Popen[bytes]]:
    hostile = HostileServer.start(tmp / "hostile")
    # the challenge announces 600 bytes and sends one every half second: each call ends at its deadline
    hostile.route(
        API_ROOT, slow_drip("401 Unauthorized", {"WWW-Authenticate": challenge_header(hostile)}, total=600, every=0.5)
    )
    data_dir = tmp / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWSERVICE_")}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        FLOWSERVICE_DYNAMICS_ALLOW_PRIVATE_ADDRESSES="true",
        FLOWSERVICE_DYNAMICS_CA_BUNDLE=str(hostile.ca_file),
    )
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    process = start_process(
        [sys.executable, "-m", "flowservice", "serve", "--data-dir", str(data_dir), "--port", str(port)],
        url + "/health",
        tmp / "serve.log",
        env=env,
        cwd=ROOT,
    )
    a, b = tenant(url, ORG_A, data_dir, env), tenant(url, ORG_B, data_dir, env)
    stack = Stack(url, process.pid, a, b, hostile)
    stack.b_connections = [create_connection(b, "https://example.crm.dynamics.com") for _ in range(50)]
    return stack, process


# ----------------------------------------------------------------------------------------------- measuring
def measure_b(stack: Stack, args: argparse.Namespace) -> LoadResult:
    ids = stack.b_connections

    def plan(n: int) -> tuple[str, str, bytes | None]:
        return "GET", f"{stack.url}{BASE}/connections/{ids[n % len(ids)]}", None

    result = run_load(
        plan,
        total=args.requests,
        concurrency=args.concurrency,
        headers=stack.b.headers(),
        time_limit=args.seconds,
        server_pid=stack.pid,
    )
    if result.errors:
        raise RuntimeError("tenant B's GETs failed: " + "; ".join(result.errors[:5]))
    return result


# ------------------------------------------------------------------------------------------------- floods
def slow_drip_flood(stack: Stack, args: argparse.Namespace, stop: threading.Event, stats: FloodStats) -> None:
    """Tenant A: ``args.flood`` requests in flight to test and explore of slow-drip connections."""
    import aiohttp

    connections = [create_connection(stack.a, stack.hostile.origin) for _ in range(5)]
    paths = [
        p
        for c in connections
        for p in (f"{BASE}/connections/{c}/test", f"{BASE}/connections/{c}/explore?objectType=root")
    ]

    async def client(number: int, session: aiohttp.ClientSession) -> None:
        n = number
        while not stop.is_set():
            path = paths[n % len(paths)]
            n += 1
            stats.sent += 1
            try:
                async with session.get(stack.url + path) as response:
                    await response.read()
                    stats.statuses[response.status] = stats.statuses.get(response.status, 0) + 1
                    wait = float(response.headers.get("Retry-After", "0") or 0)
            except (aiohttp.ClientError, TimeoutError):
                stats.errors += 1
                wait = 1.0
            if wait and not args.ignore_retry_after:
                await asyncio.sleep(wait)

    async def flood() -> None:
        timeout = aiohttp.ClientTimeout(total=600)
        connector = aiohttp.TCPConnector(limit=args.flood)
        async with aiohttp.ClientSession(headers=stack.a.headers(), timeout=timeout, connector=connector) as session:
            tasks = [asyncio.ensure_future(client(i, session)) for i in range(args.flood)]
            while not stop.is_set():
                await asyncio.sleep(0.2)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(flood())


def token_flood(stack: Stack, args: argparse.Namespace, stop: threading.Event, stats: FloodStats) -> None:
    """Tenant A's client id with wrong secrets, from ``args.token_threads`` threads, as fast as answers come."""
    counts = flood_token_endpoint(stack.url, stop, client_id=stack.a.client_id, threads=args.token_threads)
    for status, count in counts.items():
        stats.sent += count
        stats.statuses[status] = stats.statuses.get(status, 0) + count


def both_floods(stack: Stack, args: argparse.Namespace, stop: threading.Event, stats: FloodStats) -> None:
    """The slow drip and the token flood at once."""
    token = threading.Thread(target=token_flood, args=(stack, args, stop, stats), daemon=True)
    token.start()
    slow_drip_flood(stack, args, stop, stats)
    token.join(30)


Flood = Callable[[Stack, argparse.Namespace, threading.Event, FloodStats], None]
FLOODS: dict[str, Flood] = {
    "slow-drip test/explore": slow_drip_flood,
    "wrong-secret tokens": token_flood,
    "both at once": both_floods,
}


def under(flood: Flood, stack: Stack, args: argparse.Namespace) -> tuple[LoadResult, FloodStats, int]:
    stop, stats = threading.Event(), FloodStats()
    thread = threading.Thread(target=flood, args=(stack, args, stop, stats), daemon=True)
    thread.start()
    time.sleep(args.warm_up)  # let the flood reach its steady state: admitted calls dripping, the rest refused
    dripping = stack.hostile.open_connections
    try:
        result = measure_b(stack, args)
    finally:
        stop.set()
        thread.join(30)
    return result, stats, dripping


def row(label: str, r: LoadResult) -> str:
    return (
        f"| {label} | {r.requests} | {r.rps:.0f} | {r.p50:.2f} | {r.p99:.2f} | {r.server_cpu_pct:.0f}% | "
        f"{r.other_cpu_pct:.0f}% |"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="bench-abuse-") as tmp:
        stack, process = start(Path(tmp))
        try:
            measure_b(stack, argparse.Namespace(**{**vars(args), "requests": 1000, "seconds": 5}))  # warm-up
            if args.quiet_wait > 0:
                wait_for_quiet(args.quiet_wait)
            idle = measure_b(stack, args)
            rows = [row("no flood", idle)]
            notes = []
            verdicts = []
            for label, flood in FLOODS.items():
                result, stats, dripping = under(flood, stack, args)
                rows.append(row(f"under {label}", result))
                answers = dict(sorted(stats.statuses.items()))
                notes.append(
                    f"- {label}: {stats.sent} requests sent by tenant A, answers {answers}, "
                    f"{stats.errors} client errors; {dripping} connections to the dripping server open when "
                    f"the measurement started; 429s {'ignored' if args.ignore_retry_after else 'honoured'}"
                )
                met = result.p50 <= GOAL_P50_MS and result.p99 <= GOAL_P99_MS
                verdicts.append(
                    f"- under {label}: p50 {result.p50:.2f} ms, p99 {result.p99:.2f} ms "
                    f"({'meets' if met else 'misses'} the goal)"
                )
        finally:
            stop_process(process)
            stack.hostile.stop()
    print(f"GET /connections/{{id}} of tenant B at {args.concurrency} clients, {args.seconds:.0f} s per measurement\n")
    print("| scenario | requests | req/s | p50 ms | p99 ms | server CPU | other processes' CPU |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    print()
    print("\n".join(notes))
    print(f"\nGoal under a flood: p50 ≤ {GOAL_P50_MS:.0f} ms and p99 ≤ {GOAL_P99_MS:.0f} ms.")
    print("\n".join(verdicts))
    print("\nFigures from a shared machine are provisional: compare the rows of one run, not runs.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
