"""Scale-out benchmark: runs per minute and rows per second with 1, 2 and 3 ``flowservice worker`` processes.

Each round is the scale-out topology on this machine: a fresh PostgreSQL database, the lake under a fresh prefix
of a local S3 server (SeaweedFS, ``flowservice/local_s3.py``), an API server without embedded workers and N
workers on procrastinate. The org is the emulator with its cost model and service protection (as
``bench/ingest.py --realistic``), so a run spends most of its time waiting on the source as a real org makes it
wait, which is what more workers overlap. A round creates ``--flows`` flows over account, contact and lead,
triggers them all at once and times from the first trigger to the last run's end; the service-protection budget
is reset between rounds. The ratio to one worker is printed, and the table goes into ``docs/performance.md``.

    .venv/bin/python bench/scale.py                       # defaults: a few minutes in all
    .venv/bin/python bench/scale.py --scale 300 --flows 3 --workers 1 2 --no-doc   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine_summary, write_doc_section
from bench.ingest import _admin, start_emulator
from flowservice import local_s3
from flowservice.client import FlowServiceClient, open_http, request_token
from flowservice.console import FINAL, run_numbers
from flowservice.demo import Child, free_port, start_child, wait_for
from flowservice.demo_scale import fresh_database

ORG = "BENCHSCALE@AdobeOrg"
TABLES = ("account", "contact", "lead")
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def database_name(workers: int) -> str:
    return f"flowservice_bench_scale_{workers}"


def topology(
    root: Path, info: dict[str, Any], s3: local_s3.LocalS3, admin_url: str, workers: int
) -> tuple[str, dict[str, str], list[Child]]:
    """A fresh database and lake prefix, the API server and ``workers`` workers; the API's URL and their env."""
    root.mkdir(parents=True)
    database = fresh_database(admin_url, database_name(workers))
    env = {
        "FLOWSERVICE_DYNAMICS_AUTHORITY_HOSTS": info["authority_host"],
        "FLOWSERVICE_DYNAMICS_CA_BUNDLE": info["ca_file"],
        "FLOWSERVICE_DYNAMICS_ALLOW_PRIVATE_ADDRESSES": "true",
        "FLOWSERVICE_DATABASE_URL": database,
        "FLOWSERVICE_QUEUE": "procrastinate",
        "FLOWSERVICE_EMBEDDED_WORKERS": "false",
        "FLOWSERVICE_LOG_LEVEL": "WARNING",
        **s3.env(f"bench-{workers}-workers"),
    }
    data_dir = root / "server"
    port = free_port()
    serve = [sys.executable, "-m", "flowservice", "serve", "--data-dir", str(data_dir), "--port", str(port)]
    children = [start_child("flowservice serve", serve, root / "server.log", env)]
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(url + "/health", timeout=1).status_code == 200, children[0], "starting the server")
    for index in range(workers):
        command = [sys.executable, "-m", "flowservice", "worker", "--data-dir", str(data_dir)]
        children.append(start_child(f"worker{index + 1}", command, root / f"worker{index + 1}.log", env))
    return url, {**env, "DATA_DIR": str(data_dir)}, children


def client(url: str, env: dict[str, str]) -> FlowServiceClient:
    command = [sys.executable, "-m", "flowservice", "clients", "create", "--org", ORG, "--name", "bench"]
    out = subprocess.run([*command, "--data-dir", env["DATA_DIR"]], check=True, capture_output=True, text=True, env=env)
    created = json.loads(out.stdout)
    http = open_http(url, timeout=120)
    token = request_token(http, created["client_id"], created["client_secret"])
    return FlowServiceClient(http, org=ORG, client_id=created["client_id"], token=token.access_token)


def make_flows(api: FlowServiceClient, info: dict[str, Any], count: int) -> list[str]:
    connection = api.create_connection(
        "Dynamics",
        description="bench",
        auth_spec="Basic Authentication for Dynamics-Online",
        params={"serviceUri": info["org_url"], "username": info["username"], "password": info["password"]},
    ).id
    flows = []
    for index in range(count):
        table = TABLES[index % len(TABLES)]
        dataset = api.create_dataset(f"{table}s_{index}", description="bench")
        source = api.create_source_connection(f"{table} {index}", base_connection_id=connection, table=table)
        target = api.create_target_connection(f"{table}s_{index}", dataset_id=dataset, write_mode="merge")
        flow = api.create_flow(
            f"{table} {index}",
            source_connection_id=source.id,
            target_connection_id=target.id,
            transformations=[{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}],
            schedule={"startTime": str(int(time.time()) + 86_400), "frequency": "day", "interval": "1"},
        )
        flows.append(flow.id)
    return flows


def round_of(
    root: Path, info: dict[str, Any], s3: local_s3.LocalS3, args: argparse.Namespace, workers: int
) -> dict[str, float]:
    url, env, children = topology(root, info, s3, args.admin_database_url, workers)
    try:
        api = client(url, env)
        flows = make_flows(api, info, args.flows)
        _admin(info, "DELETE", "/_emulator/protection")  # each round starts with a fresh budget
        started = time.monotonic()
        runs = [api.start_run(flow) for flow in flows]
        deadline = started + args.timeout
        done: dict[str, dict[str, Any]] = {}
        while len(done) < len(runs):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(runs) - len(done)} run(s) not done within {args.timeout:.0f} s")
            for child in children:
                if child.process.poll() is not None:
                    raise RuntimeError(f"{child.name} exited:\n{child.log.read_text()[-3000:]}")
            for run_id in runs:
                if run_id not in done:
                    numbers = run_numbers(api.item(f"/runs/{run_id}"))
                    if numbers["status"] in FINAL:
                        done[run_id] = numbers
            time.sleep(0.5)
        seconds = time.monotonic() - started
        failed = [n for n in done.values() if n["status"] != "success"]
        if failed:
            raise RuntimeError(f"{len(failed)} run(s) did not succeed: {failed[0]['errors']}")
        rows = sum(n["read"] for n in done.values())
        return {"workers": workers, "runs": len(runs), "rows": rows, "seconds": seconds,
                "runs_per_minute": len(runs) / seconds * 60, "rows_per_s": rows / seconds}  # fmt: skip
    finally:
        for child in reversed(children):
            child.stop()
        with psycopg.connect(args.admin_database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database_name(workers)}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=2000, help="accounts in the org (contacts twice as many)")
    parser.add_argument("--flows", type=int, default=9, help="flows per round, over account, contact and lead")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3], help="worker counts, one round each")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a round may take")
    parser.add_argument("--admin-database-url", default=ADMIN_URL, help="PostgreSQL, for creating the databases")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/performance.md")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="flowservice-bench-scale-"))
    s3: local_s3.LocalS3 | None = None
    emulator = None
    results = []
    try:
        extra = ("--cost-model", "--service-protection", "--prerender", "account")
        emulator, info = start_emulator(root / "org", args.scale, cache_mb=args.scale * 15 // 1000 + 64, extra=extra)
        (root / "s3").mkdir()
        s3 = local_s3.start(root / "s3")
        for workers in args.workers:
            result = round_of(root / f"round-{workers}", info, s3, args, workers)
            results.append(result)
            rates = f"{result['runs_per_minute']:.1f} runs/min, {result['rows_per_s']:,.0f} rows/s"
            took = f"{result['runs']} runs, {result['rows']:,} rows in {result['seconds']:.1f} s"
            print(f"{workers} worker(s): {rates} ({took})", flush=True)
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait()
        if s3 is not None:
            local_s3.stop(s3)
        shutil.rmtree(root, ignore_errors=True)
    base = results[0]
    lines = [
        f"| workers | runs/min | rows/s | seconds | ratio to {base['workers']} worker(s) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['workers']} | {r['runs_per_minute']:.1f} | {r['rows_per_s']:,.0f} | {r['seconds']:.1f} | "
            f"{r['runs_per_minute'] / base['runs_per_minute']:.2f}× |"
        )
    table = "\n".join(lines)
    print(table)
    if not args.no_doc:
        counts = " ".join(str(w) for w in args.workers)
        command = f".venv/bin/python bench/scale.py --scale {args.scale} --flows {args.flows} --workers {counts}"
        body = (
            f"Command: `{command}`  \nMachine: {machine_summary()}\n\n"
            f"{args.flows} flows (account, contact and lead in turn, merge) triggered at once per round; the emulator "
            "with its cost model and service protection; procrastinate on PostgreSQL, the lake on a local S3 "
            f"server (SeaweedFS), all on this machine.\n\n{table}\n"
        )
        write_doc_section("<!-- scale:begin -->", "<!-- scale:end -->", "## Scale-out (bench/scale.py)\n\n" + body)


if __name__ == "__main__":
    main()
