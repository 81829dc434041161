"""``flowservice demo --scale-out``: the demo's story on the scale-out topology of one machine.

The same steps as ``Demo`` (connection, explore, flows, runs, query, changes, incremental run), but the server
side is what a team runs when it outgrows one machine: a fresh PostgreSQL database on this machine's server, the
lake in a local S3 server (SeaweedFS, ``flowservice/local_s3.py``), an API server without embedded workers, and
``flowservice worker`` processes on procrastinate. Each worker logs the end of every run it executes (``run <id>
success: …``) to its own log, which tells where each run went. Like the demo, it reaches the product only over
HTTP and through subprocesses; the database is created with psycopg, the S3 server by its launcher.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from flowservice import local_s3
from flowservice.client import BASE, ApiError, FlowServiceClient
from flowservice.demo import Child, Demo, DemoError, free_port, start_child, wait_for

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LAKE_PREFIX = "demo"
# the demo's two flows, and these besides, so that the runs have more workers to spread over
EXTRA_FLOWS = (("lead", "merge"),)


def database_url(admin_url: str, name: str) -> str:
    """``admin_url`` with its database replaced by ``name``."""
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def fresh_database(admin_url: str, name: str) -> str:
    """Drop the database ``name`` (left by an earlier demo) and create it empty; its URL."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise DemoError(f"the database name {name!r} must be lower-case letters, digits and underscores")
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise DemoError(f"cannot create the database {name} through {urlsplit(admin_url).hostname}: {exc}") from exc
    return database_url(admin_url, name)


class ScaleOutDemo(Demo):
    def __init__(
        self,
        work_dir: Path,
        scale: int,
        console: Console,
        keep_running: bool,
        admin_url: str,
        database: str,
        workers: int,
    ) -> None:
        super().__init__(work_dir, scale, console, keep_running)
        self.admin_url = admin_url
        self.database = database
        self.worker_count = workers
        self.workers: list[Child] = []
        self.placements: dict[str, dict[str, str]] = {}  # round title → run label → worker
        self.s3: local_s3.LocalS3 | None = None

    def run(self) -> None:
        try:
            super().run()
        finally:
            if self.s3 is not None:
                local_s3.stop(self.s3)

    # ------------------------------------------------------------------ the topology
    def start_server(self, org: dict[str, Any]) -> str:
        self.step(f"Creating the PostgreSQL database {self.database} (an old one of that name is dropped)")
        url_db = fresh_database(self.admin_url, self.database)
        self.step("Starting a local S3 server (SeaweedFS) for the lake")
        s3_dir = self.work_dir / "s3"
        s3_dir.mkdir()
        try:
            self.s3 = local_s3.start(s3_dir)
        except local_s3.LocalS3Error as exc:
            raise DemoError(str(exc)) from exc
        self.console.print(f"  S3 {self.s3.endpoint_url}  lake {self.s3.root(LAKE_PREFIX)}")
        self.child_env = {
            "FLOWSERVICE_DYNAMICS_AUTHORITY_HOSTS": org["authority_host"],
            "FLOWSERVICE_DYNAMICS_CA_BUNDLE": org["ca_file"],
            "FLOWSERVICE_DYNAMICS_ALLOW_PRIVATE_ADDRESSES": "true",
            "FLOWSERVICE_SCHEDULER_INTERVAL_SECONDS": "2",
            "FLOWSERVICE_DATABASE_URL": url_db,
            "FLOWSERVICE_QUEUE": "procrastinate",
            "FLOWSERVICE_EMBEDDED_WORKERS": "false",
            "FLOWSERVICE_LOG_LEVEL": "INFO",  # the workers' "run <id> success" lines tell where each run went
            **self.s3.env(LAKE_PREFIX),
        }
        self.step("Starting flowservice serve (no embedded workers: runs go to the queue)")
        port = free_port()
        self.data_dir = self.work_dir / "server"
        serve = [sys.executable, "-m", "flowservice", "serve", "--data-dir", str(self.data_dir), "--port", str(port)]
        child = start_child("flowservice serve", serve, self.work_dir / "server.log", self.child_env)
        self.children.append(child)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(url + "/health", timeout=1).status_code == 200, child, "starting the server")
        self.console.print(f"  API {url}{BASE}  (database {self.database}, lake on S3)")
        self.step(f"Starting {self.worker_count} flowservice worker processes on procrastinate")
        for index in range(self.worker_count):
            command = [sys.executable, "-m", "flowservice", "worker", "--data-dir", str(self.data_dir)]
            worker = start_child(
                f"worker{index + 1}", command, self.work_dir / f"worker{index + 1}.log", self.child_env
            )
            self.children.append(worker)
            self.workers.append(worker)
            self.console.print(f"  worker{index + 1}: pid {worker.process.pid}, log {worker.log}")
        return url

    def closing_words(
        self, url: str, api: FlowServiceClient, flows: dict[str, dict[str, str]], runs: dict[str, Any]
    ) -> None:
        super().closing_words(url, api, flows, runs)
        # the commands above need the scale-out settings; they hold the S3 secret, so a private file, not the screen
        settings = self.work_dir / "scale-out.env"
        settings.touch(mode=0o600)
        settings.write_text("".join(f"{name}={shlex.quote(value)}\n" for name, value in self.child_env.items()))
        self.console.print(
            f"The query command needs the scale-out settings (and --keep-running): set -a; . {settings}; set +a"
        )

    def lake_location(self) -> str:
        return self.s3.root(LAKE_PREFIX) if self.s3 else super().lake_location()

    # ------------------------------------------------------------------ more flows, and where runs went
    def build_flows(self, api: FlowServiceClient, connection: str) -> dict[str, dict[str, str]]:
        flows = super().build_flows(api, connection)
        self.step(
            "Creating more flows, so that the runs spread over the workers: " + ", ".join(t for t, _ in EXTRA_FLOWS)
        )
        for table, mode in EXTRA_FLOWS:
            dataset_id = api.create_dataset(f"{table}s", description=f"Dynamics {table} ({mode})")
            source = api.create_source_connection(f"Dynamics {table}", base_connection_id=connection, table=table)
            target = api.create_target_connection(f"{table}s dataset", dataset_id=dataset_id, write_mode=mode)
            flow = api.create_flow(
                f"Dynamics {table}s ({mode})",
                source_connection_id=source.id,
                target_connection_id=target.id,
                transformations=[{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}],
                schedule={"startTime": str(int(time.time()) + 900), "frequency": "minute", "interval": "15"},
            )
            flows[table] = {"flow": flow.id, "dataset": dataset_id, "name": f"{table}s", "mode": mode}
            self.console.print(f"  {table}: dataset {dataset_id} ({mode}), flow {flow.id}")
        return flows

    def run_flows(
        self, api: FlowServiceClient, flows: dict[str, dict[str, str]], title: str
    ) -> dict[str, dict[str, Any]]:
        runs = super().run_flows(api, flows, title)
        placed = {label: self.worker_of(run["id"]) for label, run in runs.items()}
        table = Table("run", "id", "worker", title=f"{title}: where each run went", title_justify="left")
        for label, worker in placed.items():
            table.add_row(label, runs[label]["id"], worker)
        self.console.print(table)
        self.placements[title] = placed
        return runs

    def worker_of(self, run_id: str, timeout: float = 30) -> str:
        """The worker whose log records the run's success (the line can trail the run document a little)."""
        pattern = re.compile(rf"\brun {re.escape(run_id)} success\b")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for worker in self.workers:
                if pattern.search(worker.log.read_text(errors="replace")):
                    return worker.name
            time.sleep(0.2)
        raise DemoError(f"no worker's log records the success of run {run_id}; see {self.work_dir}/worker*.log")

    def check_increment(self, changes: dict[str, dict[str, int]], runs: dict[str, dict[str, Any]]) -> None:
        unchanged = {"created": 0, "updated": 0, "deleted": 0}  # the extra tables: nothing changed, nothing read
        super().check_increment({table: unchanged for table, _ in EXTRA_FLOWS} | changes, runs)

    def write_summary(
        self,
        flows: dict[str, dict[str, str]],
        first: dict[str, Any],
        second: dict[str, Any],
        changes: dict[str, dict[str, int]],
    ) -> None:
        super().write_summary(flows, first, second, changes)
        path = self.work_dir / "summary.json"
        summary = json.loads(path.read_text())
        summary["database"] = self.database
        summary["lake"] = self.lake_location()
        summary["workers"] = {w.name: w.process.pid for w in self.workers}
        summary["placements"] = self.placements
        path.write_text(json.dumps(summary, indent=2, default=str))
        used = sorted({w for placed in self.placements.values() for w in placed.values()})
        self.console.print(f"  runs went to {len(used)} of {len(self.workers)} workers: {', '.join(used)}")


def run_scale_demo(work_dir: Path, scale: int, keep_running: bool, admin_url: str, database: str, workers: int) -> None:
    console = Console(width=None if sys.stdout.isatty() else 120)
    try:
        ScaleOutDemo(work_dir, scale, console, keep_running, admin_url, database, workers).run()
    except ApiError as exc:
        raise DemoError(str(exc)) from exc
