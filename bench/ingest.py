"""Ingest benchmark: land N ``account`` rows from the local Dynamics org into a Delta dataset.

Prints rows/s, MB/s and peak RSS for a full first run, next to a floor measured in the same run against the
same emulator: fetching every page over HTTPS and parsing it with orjson, discarding the result. Our run is
measured in a child process of its own so its peak RSS is its own; it runs at N rows and at N/10 rows to show
that memory does not grow with the table.

    .venv/bin/python bench/ingest.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
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

ORG = "BENCH@AdobeOrg"


def start_emulator(data_dir: Path, scale: int) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "emulator.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "crm_emulator", "dynamics", "--port", "0", "--data-dir",
                                str(data_dir), "--scale", str(scale), "--seed", "3"], stdout=log, stderr=log)
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


def floor(info: dict[str, Any], rows: int, page_size: int) -> dict[str, float]:
    """Every page over HTTPS with the same client library, parsed with orjson and dropped."""
    token = httpx.post(f"{info['authority']}/oauth2/v2.0/token", verify=info["ca_file"], data={
        "grant_type": "client_credentials", "client_id": info["client_id"], "client_secret": info["client_secret"],
        "scope": f"{info['org_url']}/.default"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Prefer": f"odata.maxpagesize={page_size}",
               "Accept": "application/json", "OData-Version": "4.0"}
    seen = size = 0
    started = time.perf_counter()
    with httpx.Client(verify=info["ca_file"], timeout=120, headers=headers) as client:
        url: str | None = info["api_url"] + "accounts"
        while url and seen < rows:
            body = client.get(url).content
            size += len(body)
            page = orjson.loads(body)
            seen += len(page["value"])
            url = page.get("@odata.nextLink")
    seconds = time.perf_counter() - started
    return {"rows": seen, "seconds": seconds, "rows_per_s": seen / seconds, "mb_per_s": size / seconds / 1e6}


def child(info_path: str, rows: int, work: str) -> None:
    """Our whole path in this process: source pages → Arrow → mapping → Delta commits, one run."""
    from flowservice.bootstrap import build
    from flowservice.domain.tenancy import Principal, Tenant
    from flowservice.settings import Settings

    info = json.loads(Path(info_path).read_text())
    os.environ.update({"FLOWSERVICE_DYNAMICS_AUTHORITY_HOSTS": info["authority_host"],
                       "FLOWSERVICE_DYNAMICS_CA_BUNDLE": info["ca_file"],
                       "FLOWSERVICE_DYNAMICS_ALLOW_PRIVATE_ADDRESSES": "true"})
    container = build(Settings(data_dir=Path(work)))
    tenant, who = Tenant(ORG, "prod"), Principal("bench", ORG)
    connection = container.connections.create(tenant, who, {
        "name": "bench", "connectionSpec": {"id": "38ad80fe-8b06-4938-94f4-d4ee80266b07"},
        "auth": {"specName": "Basic Authentication for Dynamics-Online", "params": {
            "serviceUri": info["org_url"], "username": info["username"], "password": info["password"]}}})
    source = container.source_connections.create(tenant, who, {
        "name": "accounts", "baseConnectionId": connection.id, "data": {"format": "tabular"},
        "params": {"tableName": "account"}, "connectionSpec": {"id": "38ad80fe-8b06-4938-94f4-d4ee80266b07"}})
    dataset = container.catalog.create_dataset(tenant, who, {"name": "accounts"})
    target = container.target_connections.create(tenant, who, {
        "name": "accounts", "params": {"dataSetId": dataset},
        "connectionSpec": {"id": "c604ff05-7f1a-43c0-8e18-33bf874cb11c"}})
    flow = container.flows.create(tenant, who, {
        "name": "accounts", "flowSpec": {"id": "14518937-270c-4525-bdec-c2ba7cce3860"},
        "sourceConnectionIds": [source.id], "targetConnectionIds": [target.id],
        "transformations": [{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}],
        "scheduleParams": {"startTime": 1, "frequency": "once"}})
    run = container.runs.create(tenant, who, {"flowId": flow.id})
    started = time.perf_counter()
    assert container.worker().run_once()
    seconds = time.perf_counter() - started
    doc = container.runs.get(tenant, run.id).doc
    metrics = doc["metrics"]
    print(json.dumps({
        "status": metrics["statusSummary"]["status"], "errors": metrics["statusSummary"]["errors"],
        "rows": metrics["recordSummary"]["outputRecordCount"], "seconds": seconds,
        "input_bytes": metrics["sizeSummary"]["inputBytes"], "output_bytes": metrics["sizeSummary"]["outputBytes"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def ours(info_dir: Path, rows: int, work: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", str(info_dir / "emulator.json"), "--rows", str(rows),
                          "--work", str(work)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-4000:])
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["status"] != "success" or result["rows"] != rows:
        raise RuntimeError(f"the run did not land {rows} rows: {result}")
    result["rows_per_s"] = result["rows"] / result["seconds"]
    result["mb_per_s"] = result["input_bytes"] / result["seconds"] / 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/performance.md")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, args.work)
        return
    root = Path(tempfile.mkdtemp(prefix="flowservice-ingest-"))
    results = {}
    try:
        for rows in (args.rows // 10, args.rows):
            emulator, info = start_emulator(root / f"org-{rows}", rows)
            try:
                results[rows] = {"floor": floor(info, rows, 5000), "ours": ours(root / f"org-{rows}", rows,
                                                                                 root / f"server-{rows}")}
            finally:
                emulator.terminate()
                emulator.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    big, small = results[args.rows], results[args.rows // 10]
    lines = [
        "| rows | floor rows/s | floor MB/s | ours rows/s | ours MB/s | ours/floor | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rows, r in sorted(results.items()):
        lines.append(f"| {rows:,} | {r['floor']['rows_per_s']:,.0f} | {r['floor']['mb_per_s']:.1f} | "
                     f"{r['ours']['rows_per_s']:,.0f} | {r['ours']['mb_per_s']:.1f} | "
                     f"{r['ours']['rows_per_s'] / r['floor']['rows_per_s']:.0%} | {r['ours']['peak_rss_mb']:.0f} |")
    ratio = big["ours"]["peak_rss_mb"] / small["ours"]["peak_rss_mb"]
    table = "\n".join(lines)
    verdict = (f"Throughput {big['ours']['rows_per_s'] / big['floor']['rows_per_s']:.0%} of the floor (goal ≥ 80%); "
               f"peak RSS {big['ours']['peak_rss_mb']:.0f} MB (goal ≤ 400 MB), {ratio:.2f}× the peak at "
               f"{args.rows // 10:,} rows (goal ≤ 1.2×).")
    print(table)
    print(verdict)
    if not args.no_doc:
        body = (f"Command: `.venv/bin/python bench/ingest.py --rows {args.rows}`  \nMachine: {machine_summary()}\n\n"
                f"{table}\n\n{verdict}\n")
        write_doc_section("<!-- ingest:begin -->", "<!-- ingest:end -->", "## Ingest (bench/ingest.py)\n\n" + body)


if __name__ == "__main__":
    main()
