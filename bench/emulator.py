"""Throughput of the Dynamics emulator: page through ``accounts`` at maxpagesize 5000 and print records/s.

Starts ``crm-emulator dynamics --no-tls`` as a subprocess (one uvicorn process, one core), gets a token from its
token endpoint and follows ``@odata.nextLink`` with httpx, parsing every page with orjson like a connector
would. The first pass renders rows from the seed (cold); the second reads them from the render cache (warm).
The floor is the issue's requirement, 100,000 records/s.

    .venv/bin/python bench/emulator.py [--scale 200000] [--tls]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

FLOOR = 100_000


def start(scale: int, tls: bool, data_dir: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
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
        "2048",
        "--realm-port",
        "0",
    ]
    if not tls:
        cmd.append("--no-tls")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    info_path = data_dir / "emulator.json"
    deadline = time.monotonic() + 60
    while not info_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"emulator did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.05)
    return proc, json.loads(info_path.read_text())


NEXT = b'"@odata.nextLink":"'


def page_through(client: httpx.Client, api_url: str, parse: bool) -> tuple[int, int, float]:
    """Follow nextLinks; with ``parse`` every page is decoded with orjson, otherwise records are counted by
    their ``@odata.etag`` and the nextLink is read from the end of the body (measures the server, not the
    client's JSON decoding)."""
    url: str | None = api_url + "accounts"
    records = size = 0
    started = time.perf_counter()
    while url:
        response = client.get(url, headers={"Prefer": "odata.maxpagesize=5000"})
        response.raise_for_status()
        body = response.content
        size += len(body)
        if parse:
            page = orjson.loads(body)
            records += len(page["value"])
            url = page.get("@odata.nextLink")
        else:
            records += body.count(b'"@odata.etag"')
            at = body.rfind(NEXT, max(0, len(body) - 4096))
            url = body[at + len(NEXT) : body.index(b'"', at + len(NEXT))].decode() if at >= 0 else None
    return records, size, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=200_000)
    parser.add_argument("--tls", action="store_true", help="measure over HTTPS instead of plain HTTP")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, info = start(args.scale, args.tls, Path(tmp))
        try:
            verify: str | bool = info["ca_file"] if args.tls else True
            token = httpx.post(
                f"{info['authority']}/oauth2/v2.0/token",
                verify=verify,
                data={
                    "grant_type": "client_credentials",
                    "client_id": info["client_id"],
                    "client_secret": info["client_secret"],
                    "scope": info["org_url"] + "/.default",
                },
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "OData-Version": "4.0"}
            with httpx.Client(verify=verify, headers=headers, timeout=120) as client:
                print(f"emulator: scale {args.scale}, {'HTTPS' if args.tls else 'HTTP'}, pages of 5000, httpx client")
                for label, parse in (
                    ("cold: rendered from the seed", False),
                    ("warm: render cache", False),
                    ("warm, client parses (orjson)", True),
                ):
                    records, size, seconds = page_through(client, info["api_url"], parse)
                    rate = records / seconds
                    print(
                        f"  {label:32s} {records:>9,} records  {size / 1e6:8.1f} MB  {seconds:6.2f} s  "
                        f"{rate:>10,.0f} records/s  {size / 1e6 / seconds:7.1f} MB/s  "
                        f"x{rate / FLOOR:.2f} of the {FLOOR:,}/s floor"
                    )
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
