"""Explore benchmark: Dynamics discovery against a local emulator subprocess over HTTPS.

Measures list_tables cold (new connection: challenge + token + EntityDefinitions) and warm (cached),
describe(account) cold, and the peak Python memory (tracemalloc) of discovery as the number of described
tables grows. The floor is the same HTTP requests made with a bare httpx client in the same run, so the
printed ratios show what the source adds on top of the wire.

    .venv/bin/python bench/explore.py [--scale 500] [--repeat 5] [--no-append]

Figures are appended to docs/performance.md unless --no-append.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowservice.sources.dynamics import DynamicsSettings, DynamicsSource, clear_caches  # noqa: E402
from flowservice.sources.dynamics.metadata import ATTRIBUTE_SELECT, TABLE_SELECT  # noqa: E402


def start_emulator(data_dir: Path, scale: int) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    command = [
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
        "--realm-port",
        "0",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    info_path = data_dir / "emulator.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if info_path.exists():
            info = json.loads(info_path.read_text())
            if info.get("pid") == process.pid:
                return process, info
        if process.poll() is not None:
            raise SystemExit(f"emulator exited with {process.returncode}")
        time.sleep(0.05)
    process.kill()
    raise SystemExit("emulator did not start within 60 s")


def make_source(info: dict[str, Any]) -> DynamicsSource:
    settings = DynamicsSettings(
        authority_hosts_extra=(info["authority_host"],),
        ca_bundle=info["ca_file"],
        allow_private_addresses=True,
        public_client_id=info["client_id"],
    )
    params = {
        "serviceUri": info["org_url"],
        "servicePrincipalId": info["client_id"],
        "servicePrincipalKey": info["client_secret"],
    }
    return DynamicsSource(params, auth_kind="service_principal", settings=settings)


def timed(action: Callable[[], Any], repeat: int, before: Callable[[], None] | None = None) -> tuple[float, Any]:
    """Median seconds over ``repeat`` runs (``before`` runs untimed before each)."""
    samples, result = [], None
    for _ in range(repeat):
        if before:
            before()
        start = time.perf_counter()
        result = action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def floor_requests(info: dict[str, Any], repeat: int) -> tuple[float, float]:
    """The same GETs with a bare client and a ready token: EntityDefinitions, and describe's five calls."""
    context = ssl.create_default_context(cafile=info["ca_file"])
    token = httpx.post(
        f"{info['authority']}/oauth2/v2.0/token",
        verify=context,
        data={
            "grant_type": "client_credentials",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "scope": f"{info['org_url']}/.default",
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "OData-Version": "4.0"}
    base = "EntityDefinitions(LogicalName='account')/Attributes"
    describe_urls = [f"{base}?$select={ATTRIBUTE_SELECT}"] + [
        f"{base}/Microsoft.Dynamics.CRM.{cls}?$select={select}"
        for cls, select in (
            ("DecimalAttributeMetadata", "LogicalName,Precision"),
            ("MoneyAttributeMetadata", "LogicalName,Precision,PrecisionSource"),
            ("DateTimeAttributeMetadata", "LogicalName,DateTimeBehavior,Format"),
            ("LookupAttributeMetadata", "LogicalName,Targets"),
        )
    ]
    with httpx.Client(base_url=info["api_url"], verify=context, headers=headers) as client:
        client.get("WhoAmI")
        listing, _ = timed(lambda: client.get(f"EntityDefinitions?$select={TABLE_SELECT}").content, repeat)
        describe, _ = timed(lambda: [client.get(u).content for u in describe_urls], repeat)
    return listing, describe


def discovery_memory(info: dict[str, Any], checkpoints: list[int]) -> list[tuple[int, float]]:
    """Peak traced memory (MiB) after listing and describing the first N tables, for each N."""
    clear_caches()
    source = make_source(info)
    source.check()
    tracemalloc.start()
    out: list[tuple[int, float]] = []
    described = 0
    for table in source.list_tables():
        source.describe(table.name)
        described += 1
        if described in checkpoints:
            out.append((described, tracemalloc.get_traced_memory()[1] / 2**20))
    if described not in checkpoints:
        out.append((described, tracemalloc.get_traced_memory()[1] / 2**20))
    tracemalloc.stop()
    source.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-explore-") as tmp:
        process, info = start_emulator(Path(tmp), args.scale)
        try:
            report = run(info, args.repeat)
        finally:
            process.terminate()
            process.wait(15)
    print(report)
    if not args.no_append:
        path = ROOT / "docs" / "performance.md"
        existing = path.read_text() if path.exists() else "# Performance\n"
        path.write_text(existing.rstrip("\n") + "\n\n" + report + "\n")
        print(f"appended to {path.relative_to(ROOT)}")


def run(info: dict[str, Any], repeat: int) -> str:
    warm_up = make_source(info)  # the emulator renders metadata lazily: let it, before anything is timed
    list(warm_up.list_tables())
    warm_up.describe("account")
    floors = [floor_requests(info, repeat) for _ in range(2)]
    list_floor, describe_floor = min(f[0] for f in floors), min(f[1] for f in floors)

    def cold_source() -> DynamicsSource:
        clear_caches()
        return make_source(info)

    holder: dict[str, DynamicsSource] = {}

    def reset() -> None:
        holder["s"] = cold_source()

    cold_all, tables = timed(lambda: list(holder["s"].list_tables()), repeat, reset)

    def reset_keep_token() -> None:
        reset()
        holder["s"].check()

    cold_meta, _ = timed(lambda: list(holder["s"].list_tables()), repeat, reset_keep_token)
    warm_source = make_source(info)
    list(warm_source.list_tables())
    warm, _ = timed(lambda: list(make_source(info).list_tables()), repeat)
    describe_cold, schema = timed(lambda: holder["s"].describe("account"), repeat, reset_keep_token)
    describe_warm, _ = timed(lambda: make_source(info).describe("account"), repeat)

    count = len(tables)
    checkpoints = [n for n in (50, 100, 200, 300, 400, 500) if n <= count] + [count]
    memory = discovery_memory(info, sorted(set(checkpoints)))

    ms = 1000.0
    lines = [
        f"## Explore: Dynamics discovery ({dt.datetime.now(dt.UTC).date().isoformat()})",
        "",
        "Command: `.venv/bin/python bench/explore.py --scale 500 --repeat "
        f"{repeat}` — emulator subprocess over HTTPS on loopback, "
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs; "
        "medians; floor = the same GETs with a bare httpx client and a ready token.",
        "",
        "| Measure | Time | Floor | Ratio |",
        "|---|---|---|---|",
        f"| list_tables cold, new connection (challenge + token + EntityDefinitions), {count} tables "
        f"| {cold_all * ms:.1f} ms | {list_floor * ms:.1f} ms | {cold_all / list_floor:.2f}× |",
        f"| list_tables cold, token cached | {cold_meta * ms:.1f} ms | {list_floor * ms:.1f} ms "
        f"| {cold_meta / list_floor:.2f}× |",
        f"| list_tables warm (metadata cache, new DynamicsSource) | {warm * ms:.2f} ms | {list_floor * ms:.1f} ms "
        f"| {warm / list_floor:.3f}× |",
        f"| describe(account) cold, {len(schema.columns)} columns (5 metadata GETs) | {describe_cold * ms:.1f} ms "
        f"| {describe_floor * ms:.1f} ms | {describe_cold / describe_floor:.2f}× |",
        f"| describe(account) warm | {describe_warm * ms:.2f} ms | {describe_floor * ms:.1f} ms "
        f"| {describe_warm / describe_floor:.3f}× |",
        "",
        "Peak traced Python memory of discovery (list_tables, then describe each table in turn; the schema "
        "cache keeps at most 256 tables per connection):",
        "",
        "| Tables described | Peak memory |",
        "|---|---|",
        *[f"| {n} | {mib:.1f} MiB |" for n, mib in memory],
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
