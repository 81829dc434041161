"""Helpers shared by the bench scripts: free ports, server processes, an HTTP load generator, percentiles and
the sections of ``docs/performance.md``.

The load generator is aiohttp on one event loop in the bench script's own process, so it never shares a process
(or a GIL) with the server under test. Every target is on the loopback interface, and every load is bounded in
both request count and time.
"""

from __future__ import annotations

import asyncio
import math
import os
import platform
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
PERFORMANCE_DOC = ROOT / "docs" / "performance.md"
LOOPBACK = "127.0.0.1"


# ---------------------------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers 200; raise with the server's log if the process dies or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    stop_process(process)
    raise RuntimeError(f"server did not answer {url} within {timeout:.0f}s:\n{log_path.read_text(errors='replace')}")


def start_process(
    cmd: Sequence[str], health_url: str, log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` (output to ``log_path``) and return once ``health_url`` answers 200."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    wait_healthy(health_url, process, log_path)
    return process


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (all its threads)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def machine_summary() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


# ---------------------------------------------------------------------------------------------- statistics
def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# ---------------------------------------------------------------------------------------------- load
# A request plan maps the request number to (method, url, body bytes or None).
Plan = Callable[[int], tuple[str, str, bytes | None]]
OnResponse = Callable[[int, int, bytes], None]


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    other_cpu_s: float = 0.0  # every other process on the machine (noise from whatever else runs)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else math.nan

    @property
    def p50(self) -> float:
        return percentile(sorted(self.latencies_ms), 50)

    @property
    def p99(self) -> float:
        return percentile(sorted(self.latencies_ms), 99)

    @property
    def server_cpu_pct(self) -> float:
        """Server CPU over the run, in % of one core (2 cores = 200%)."""
        return 100 * self.server_cpu_s / self.seconds if self.seconds else math.nan

    @property
    def client_cpu_pct(self) -> float:
        return 100 * self.client_cpu_s / self.seconds if self.seconds else math.nan

    @property
    def other_cpu_pct(self) -> float:
        return 100 * self.other_cpu_s / self.seconds if self.seconds else math.nan

    @property
    def server_cpu_ms_per_request(self) -> float:
        """Server CPU time per request: unlike requests/s, barely moved by what else the machine runs."""
        return 1000 * self.server_cpu_s / self.requests if self.requests else math.nan


async def _drive(
    plan: Plan,
    total: int,
    concurrency: int,
    headers: dict[str, str],
    time_limit: float,
    expect: int,
    on_response: OnResponse | None,
) -> LoadResult:
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    counter = 0
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout, skip_auto_headers=("User-Agent",)
    ) as session:
        started = time.perf_counter()
        deadline = started + time_limit

        async def worker() -> None:
            nonlocal counter
            while counter < total and time.perf_counter() < deadline:
                number = counter
                counter += 1
                method, url, body = plan(number)
                t0 = time.perf_counter()
                try:
                    async with session.request(method, url, data=body) as response:
                        payload = await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    errors.append(f"{method} {url}: {exc!r}")
                    if len(errors) > 20:
                        raise
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                if status != expect and len(errors) < 20:
                    errors.append(f"{method} {url}: {status} {payload[:300]!r}")
                if on_response is not None:
                    on_response(number, status, payload)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return LoadResult(len(latencies), elapsed, latencies, statuses, errors)


def run_load(
    plan: Plan,
    *,
    total: int,
    concurrency: int,
    headers: dict[str, str],
    time_limit: float,
    expect: int = 200,
    server_pid: int | None = None,
    on_response: OnResponse | None = None,
) -> LoadResult:
    """Send ``total`` requests (or as many as fit in ``time_limit`` seconds) from ``concurrency`` clients over
    as many keep-alive connections; each request's latency is measured from send to the last body byte."""
    try:
        import uvloop

        runner: Callable[[Any], LoadResult] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    server_before = cpu_seconds(server_pid) if server_pid else 0.0
    client_before = cpu_seconds(os.getpid())
    busy_before = machine_busy_seconds()
    result = runner(_drive(plan, total, concurrency, headers, time_limit, expect, on_response))
    busy = machine_busy_seconds() - busy_before
    result.client_cpu_s = cpu_seconds(os.getpid()) - client_before
    if server_pid:
        result.server_cpu_s = cpu_seconds(server_pid) - server_before
    result.other_cpu_s = max(0.0, busy - result.client_cpu_s - result.server_cpu_s)
    return result


def wait_for_quiet(max_wait: float, threshold_pct: float = 25.0) -> float:
    """Wait (at most ``max_wait`` seconds) until the machine's total CPU use over one second is below
    ``threshold_pct`` of one core, so a measurement does not start in the middle of someone else's job; returns
    the last reading."""
    deadline = time.monotonic() + max_wait
    while True:
        before = machine_busy_seconds()
        time.sleep(1.0)
        busy_pct = 100 * (machine_busy_seconds() - before)
        if busy_pct < threshold_pct or time.monotonic() >= deadline:
            return busy_pct


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine (all cores) spent running anything: user, nice, system, irq, softirq."""
    times = psutil.cpu_times()
    return float(sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq")))


# ---------------------------------------------------------------------------------------------- docs
def write_doc_section(begin: str, end: str, body: str, path: Path = PERFORMANCE_DOC) -> None:
    """Put ``begin + body + end`` into ``path``: replace the text between the markers if they are there, else
    append it. Nothing outside the markers is touched."""
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else ""
    start, stop = text.find(begin), text.find(end)
    if start >= 0 and stop > start:
        rest = text[stop + len(end) :]
        updated = text[:start] + block + rest.removeprefix("\n")
        # re-read right before writing so a section another script appended meanwhile is not lost
        if (path.read_text() if path.exists() else "") != text:
            return write_doc_section(begin, end, body, path)
        path.write_text(updated)
        return
    with path.open("a") as handle:
        if text and not text.endswith("\n\n"):
            handle.write("\n" if text.endswith("\n") else "\n\n")
        handle.write(block)
