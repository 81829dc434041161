"""Throughput of the Dynamics emulator: page through ``accounts`` at maxpagesize 5000, print records/s and MB/s.

For each ``--scale`` and start mode it starts ``crm-emulator dynamics --no-tls`` as a subprocess (one
uvicorn process, one core) in a fresh data directory, gets a token and follows ``@odata.nextLink`` over one
keep-alive connection:

1. **first read**: the first pass over the table in this process (the acceptance figure: ≥ 100,000
   records/s on one core). Mode ``live``: every record is rendered from the seed during the read. Mode
   ``prerendered``: the emulator ran with ``--prerender accounts``, which renders the table into the data
   directory before it reports ready (that time is in "ready in"), so the read is file reads;
2. **second read**: the same pass again, served from the render cache (``--cache-mb``) where the table fits in
   it, from the render store in mode ``prerendered``, rendered again otherwise;
3. with ``--httpx``, a connector-like pass: httpx plus orjson parsing of every page (client-bound).

Passes 1 and 2 use ``http.client`` and count records without decoding JSON, so they measure the server rather
than the client. Each line also gives the emulator's CPU time over the pass and records per emulator
CPU-second: what one core sustains, which other load on a shared machine distorts far less than wall time.

    .venv/bin/python bench/emulator.py [--scale 200000 1000000] [--mode live prerendered] [--cache-mb 2048]
        [--httpx] [--tls]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

FLOOR = 100_000
NEXT = b'"@odata.nextLink":"'
PAGE_SIZE = 5000


def start(
    scale: int, tls: bool, cache_mb: int, prerender: bool, data_dir: Path
) -> tuple[subprocess.Popen[bytes], dict[str, str], float]:
    cmd = [
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
        "1",
        "--cache-mb",
        str(cache_mb),
        "--realm-port",
        "0",
    ]
    if not tls:
        cmd.append("--no-tls")
    if prerender:
        cmd += ["--prerender", "accounts"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    info_path = data_dir / "emulator.json"
    deadline = time.monotonic() + 300
    while not info_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"emulator did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.02)
    return proc, json.loads(info_path.read_text()), time.perf_counter() - started


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux), for records per CPU-second."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def next_link(body: bytes) -> str | None:
    at = body.rfind(NEXT, max(0, len(body) - 4096))
    return body[at + len(NEXT) : body.index(b'"', at + len(NEXT))].decode() if at >= 0 else None


def raw_pass(info: dict[str, str], token: str, tls: bool) -> tuple[int, int]:
    """Page through accounts with http.client, counting records by their ``@odata.etag``."""
    api = urlsplit(info["api_url"])
    if tls:
        context = ssl.create_default_context(cafile=info["ca_file"])
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(api.hostname, api.port, context=context)
    else:
        conn = http.client.HTTPConnection(api.hostname, api.port)
    headers = {"Authorization": f"Bearer {token}", "Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
    path: str | None = api.path + "accounts"
    records = size = 0
    try:
        while path:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}: {body[:300]!r}")
            size += len(body)
            records += body.count(b'"@odata.etag"')
            link = next_link(body)
            path = None if link is None else urlsplit(link).path + "?" + urlsplit(link).query
    finally:
        conn.close()
    return records, size


def httpx_pass(info: dict[str, str], token: str, tls: bool) -> tuple[int, int]:
    """Page through accounts with httpx and parse every page with orjson, like a connector."""
    verify: str | bool = info["ca_file"] if tls else True
    headers = {"Authorization": f"Bearer {token}", "Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
    url: str | None = info["api_url"] + "accounts"
    records = size = 0
    with httpx.Client(verify=verify, headers=headers, timeout=300) as client:
        while url:
            response = client.get(url)
            response.raise_for_status()
            size += len(response.content)
            page = orjson.loads(response.content)
            records += len(page["value"])
            url = page.get("@odata.nextLink")
    return records, size


def measure(label: str, pid: int, run: Callable[[dict[str, str], str, bool], tuple[int, int]], *args: Any) -> None:
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    records, size = run(*args)
    seconds = time.perf_counter() - started
    cpu_after = cpu_seconds(pid)
    rate = records / seconds
    line = (
        f"  {label:38s} {records:>9,} records {size / 1e6:8.1f} MB {seconds:7.2f} s "
        f"{rate:>9,.0f} records/s {size / 1e6 / seconds:7.1f} MB/s"
    )
    if cpu_before is not None and cpu_after is not None and cpu_after > cpu_before:
        cpu = cpu_after - cpu_before
        line += f" | emulator CPU {cpu:6.2f} s {records / cpu:>9,.0f} records/CPU-s x{records / cpu / FLOOR:.2f}"
    rss = rss_mb(pid)
    if rss is not None:
        line += f" | RSS {rss:,.0f} MB"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, nargs="+", default=[200_000], help="accounts (one run per value)")
    parser.add_argument("--mode", nargs="+", choices=("live", "prerendered"), default=["live", "prerendered"])
    parser.add_argument("--cache-mb", type=int, default=2048, help="the emulator's render cache")
    parser.add_argument("--tls", action="store_true", help="measure over HTTPS instead of plain HTTP")
    parser.add_argument("--httpx", action="store_true", help="add a connector-like pass (httpx + orjson)")
    parser.add_argument("--repeat", type=int, default=1, help="fresh emulators per scale and mode")
    args = parser.parse_args()
    print(
        f"crm_emulator throughput: accounts (118 columns), pages of {PAGE_SIZE}, {'HTTPS' if args.tls else 'HTTP'} "
        f"on loopback, --cache-mb {args.cache_mb}; floor {FLOOR:,} records/s; load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    for scale in args.scale:
        for mode in args.mode:
            for _ in range(args.repeat):
                bench_scale(scale, mode, args)


def bench_scale(scale: int, mode: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, info, startup = start(scale, args.tls, args.cache_mb, mode == "prerendered", Path(tmp))
        try:
            token = httpx.post(
                f"{info['authority']}/oauth2/v2.0/token",
                verify=info["ca_file"] if args.tls else True,
                data={
                    "grant_type": "client_credentials",
                    "client_id": info["client_id"],
                    "client_secret": info["client_secret"],
                    "scope": info["org_url"] + "/.default",
                },
            ).json()["access_token"]
            print(f"scale {scale:,}, {mode}: ready in {startup:.1f} s (start-up until emulator.json)", flush=True)
            first = "FIRST READ (rendered during the read)" if mode == "live" else "FIRST READ (pre-rendered files)"
            measure(first, proc.pid, raw_pass, info, token, args.tls)
            measure("second read", proc.pid, raw_pass, info, token, args.tls)
            if args.httpx:
                measure("httpx + orjson parse (client-bound)", proc.pid, httpx_pass, info, token, args.tls)
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
