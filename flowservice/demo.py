"""``flowservice demo``: the whole product, end to end, offline, as a user's script would drive it.

It starts a local Dynamics org (``crm-emulator``) and ``flowservice serve`` as child processes, then uses only
the public HTTP API, through ``flowservice/client.py``: a client and a token, the seed's connection, explore,
datasets, source and target connections, a mapping, two scheduled flows, runs with live progress, a query, and
an incremental round after changing rows in the org. Both children stop on exit or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from flowservice.client import BASE, ApiError, FlowServiceClient, open_http, request_token
from flowservice.console import run_numbers, summary_table, watch

ORG = "DEMO0RG0000000000000000@AdobeOrg"


class DemoError(RuntimeError):
    """Why the demo stopped, in one line (an API call's error included)."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_child(name: str, args: list[str], log: Path, env: dict[str, str] | None = None) -> Child:
    handle = log.open("wb")
    process = subprocess.Popen(
        args, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True
    )
    return Child(name, process, log)


def wait_for(check: Any, child: Child, what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise DemoError(f"{child.name} exited while {what}:\n{child.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError, OSError, ValueError, KeyError):
            result = check()
            if result:
                return result
        time.sleep(0.2)
    raise DemoError(f"timed out while {what}; see {child.log}")


class Demo:
    def __init__(self, work_dir: Path, scale: int, console: Console, keep_running: bool) -> None:
        self.work_dir = work_dir
        self.scale = scale
        self.console = console
        self.keep_running = keep_running
        self.children: list[Child] = []
        self.started = time.monotonic()
        self.child_env: dict[str, str] = {}  # settings the CLI commands it runs need too (none when embedded)

    # ------------------------------------------------------------------ steps
    def step(self, text: str) -> None:
        self.console.print(f"[bold cyan]▶[/] {text}  [dim]({time.monotonic() - self.started:.1f}s)[/]")

    def run(self) -> None:
        if self.work_dir.exists():
            shutil.rmtree(self.work_dir)
        self.work_dir.mkdir(parents=True)
        try:
            org = self.start_emulator()
            url = self.start_server(org)
            api = self.login(url)
            connection = self.connect(api, org)
            flows = self.build_flows(api, connection)
            first = self.run_flows(api, flows, "First run: full load")
            self.query(flows)
            changes = self.change_rows(org)
            second = self.run_flows(api, flows, "Second run: only the changes")
            self.check_increment(changes, second)
            self.write_summary(flows, first, second, changes)
            self.closing_words(url, api, flows, first)
            if self.keep_running:
                self.console.print("[bold]Servers keep running; Ctrl-C stops them.[/]")
                while True:
                    time.sleep(3600)
        finally:
            for child in reversed(self.children):
                child.stop()

    def start_emulator(self) -> dict[str, Any]:
        self.step(
            f"Starting a local Dynamics 365 org (crm-emulator, HTTPS, {self.scale:,} accounts, "
            f"{2 * self.scale:,} contacts)"
        )
        data = self.work_dir / "emulator"
        data.mkdir()
        command = [sys.executable, "-m", "crm_emulator", "dynamics", "--port", "0", "--data-dir", str(data)]
        command += ["--scale", str(self.scale), "--seed", "42"]
        child = start_child("crm-emulator", command, self.work_dir / "emulator.log")
        self.children.append(child)
        info_file = data / "emulator.json"
        org: dict[str, Any] = wait_for(lambda: json.loads(info_file.read_text()), child, "starting the emulator")
        self.console.print(f"  org {org['org_url']}  tenant {org['tenant_id']}  CA {org['ca_file']}")
        return org

    def start_server(self, org: dict[str, Any]) -> str:
        self.step("Starting flowservice serve (embedded: SQLite, local Delta lake, worker processes)")
        port = free_port()
        env = {
            "FLOWSERVICE_DYNAMICS_AUTHORITY_HOSTS": org["authority_host"],
            "FLOWSERVICE_DYNAMICS_CA_BUNDLE": org["ca_file"],
            "FLOWSERVICE_DYNAMICS_ALLOW_PRIVATE_ADDRESSES": "true",
            "FLOWSERVICE_SCHEDULER_INTERVAL_SECONDS": "2",
        }
        self.data_dir = self.work_dir / "server"
        child = start_child(
            "flowservice serve",
            [sys.executable, "-m", "flowservice", "serve", "--data-dir", str(self.data_dir), "--port", str(port)],
            self.work_dir / "server.log",
            env,
        )
        self.children.append(child)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(url + "/health", timeout=1).status_code == 200, child, "starting the server")
        self.console.print(f"  API {url}{BASE}  (OpenAPI: {url}/openapi.json, data in {self.data_dir})")
        return url

    def login(self, url: str) -> FlowServiceClient:
        self.step("Registering an API client and getting a token from /ims/token/v3")
        command = [sys.executable, "-m", "flowservice", "clients", "create", "--org", ORG, "--name", "demo"]
        out = subprocess.run(
            [*command, "--data-dir", str(self.data_dir)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, **self.child_env},
        )
        self.client = json.loads(out.stdout)
        http = open_http(url, timeout=120)
        token = request_token(http, self.client["client_id"], self.client["client_secret"])
        self.token = token.access_token
        self.console.print(
            f"  x-api-key {self.client['client_id']}  org {ORG}  token expires in {token.expires_in // 3_600_000} h"
        )
        return FlowServiceClient(http, org=ORG, client_id=self.client["client_id"], token=self.token)

    def connect(self, api: FlowServiceClient, org: dict[str, Any]) -> str:
        self.step("Creating the Dynamics connection with the seed document's request")
        created = api.create_connection(
            "Dynamics Connection",
            description="connection for Dynamics account",
            auth_spec="Basic Authentication for Dynamics-Online",
            params={"serviceUri": org["org_url"], "username": org["username"], "password": org["password"]},
        )
        connection = created.id
        masked = api.item(f"/connections/{connection}")["auth"]["params"]["password"]
        self.console.print(f"  201 id={connection} etag={created.etag}  (password shown as {masked})")
        test = api.call("GET", f"/connections/{connection}/test")
        self.console.print(f"  test → result: {test['result']}")
        if not test["result"]:
            raise DemoError(f"the connection test failed: {test.get('reason')}")
        self.step("Exploring the org")
        tables = api.call("GET", f"/connections/{connection}/explore", params={"objectType": "root"})
        self.console.print(f"  {len(tables)} tables, e.g. " + ", ".join(t["path"] for t in tables[:6]))
        for name in ("account", "contact"):
            described = api.call(
                "GET", f"/connections/{connection}/explore", params={"objectType": "table", "object": name}
            )
            columns = described["schema"]["columns"]
            kinds = sorted({c["meta"]["originalType"] for c in columns})
            self.console.print(
                f"  {name}: {len(columns)} columns of {len(kinds)} Dataverse types ({', '.join(kinds[:8])}, ...)"
            )
        preview = api.call(
            "GET",
            f"/connections/{connection}/explore",
            params={"objectType": "table", "object": "account", "preview": "true", "previewCount": "3"},
        )
        table = Table("accountid", "name", "revenue", "modifiedon", title="account preview", title_justify="left")
        for row in preview["data"]:
            table.add_row(
                str(row.get("accountid")), str(row.get("name")), str(row.get("revenue")), str(row.get("modifiedon"))
            )
        self.console.print(table)
        return connection

    def build_flows(self, api: FlowServiceClient, connection: str) -> dict[str, dict[str, str]]:
        self.step("Creating datasets, source and target connections, a mapping and two flows (every 15 minutes)")
        flows: dict[str, dict[str, str]] = {}
        mapping_id = api.create_mapping_set(
            [
                {"sourceType": "ATTRIBUTE", "source": "accountid", "destination": "accountid"},
                {"sourceType": "ATTRIBUTE", "source": "name", "destination": "name"},
                {"sourceType": "EXPRESSION", "source": "lower(trim(name))", "destination": "name_key"},
                {"sourceType": "ATTRIBUTE", "source": "industrycode", "destination": "industrycode"},
                {"sourceType": "ATTRIBUTE", "source": "revenue", "destination": "revenue"},
                {"sourceType": "ATTRIBUTE", "source": "numberofemployees", "destination": "numberofemployees"},
                {"sourceType": "ATTRIBUTE", "source": "address1_city", "destination": "address.city"},
                {"sourceType": "ATTRIBUTE", "source": "address1_country", "destination": "address.country"},
                {"sourceType": "ATTRIBUTE", "source": "modifiedon", "destination": "modifiedon"},
                {"sourceType": "STATIC", "source": "dynamics-demo", "destination": "origin"},
            ]
        )
        for table, mode, mapping in (("account", "merge", mapping_id), ("contact", "append", None)):
            dataset_id = api.create_dataset(f"{table}s", description=f"Dynamics {table} ({mode})")
            source = api.create_source_connection(f"Dynamics {table}", base_connection_id=connection, table=table)
            target = api.create_target_connection(f"{table}s dataset", dataset_id=dataset_id, write_mode=mode)
            copy = {"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}
            transformations: list[dict[str, Any]] = [copy]
            if mapping:
                transformations.append({"name": "Mapping", "params": {"mappingId": mapping, "mappingVersion": 0}})
            flow = api.create_flow(
                f"Dynamics {table}s ({mode})",
                source_connection_id=source.id,
                target_connection_id=target.id,
                transformations=transformations,
                schedule={
                    "startTime": str(int(time.time()) + 900),
                    "frequency": "minute",
                    "interval": "15",
                    "backfill": "true",
                },
            )
            flows[table] = {"flow": flow.id, "dataset": dataset_id, "name": f"{table}s", "mode": mode}
            self.console.print(f"  {table}: dataset {dataset_id} ({mode}), flow {flow.id}")
        return flows

    def run_flows(
        self, api: FlowServiceClient, flows: dict[str, dict[str, str]], title: str
    ) -> dict[str, dict[str, Any]]:
        self.step(f"{title}: triggering a run of each flow")
        ids = {table: api.start_run(f["flow"]) for table, f in flows.items()}

        def fetch() -> dict[str, dict[str, Any]]:
            return {f"{t} ({flows[t]['mode']})": api.item(f"/runs/{rid}") for t, rid in ids.items()}

        runs = watch(fetch, self.console, timeout=600)
        self.console.print(summary_table(runs, title=f"{title}: summary"))
        failed = [label for label, run in runs.items() if run_numbers(run)["status"] != "success"]
        if failed:
            raise DemoError(f"runs did not succeed: {failed}: {[run_numbers(runs[f])['errors'] for f in failed]}")
        return runs

    def query(self, flows: dict[str, dict[str, str]]) -> None:
        sql = (
            "SELECT industrycode, count(*) AS accounts, round(sum(revenue), 2) AS revenue FROM accounts "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 5"
        )
        self.step(f"Querying the datasets with DuckDB: {sql}")
        subprocess.run(
            [sys.executable, "-m", "flowservice", "query", sql, "--org", ORG, "--data-dir", str(self.data_dir)],
            check=True,
            env={**os.environ, **self.child_env},
        )

    def change_rows(self, org: dict[str, Any]) -> dict[str, dict[str, int]]:
        self.step("Changing rows in the org through its Web API (creates, updates, deletes)")
        token = httpx.post(
            f"{org['authority']}/oauth2/v2.0/token",
            verify=org["ca_file"],
            data={
                "grant_type": "client_credentials",
                "client_id": org["client_id"],
                "client_secret": org["client_secret"],
                "scope": f"{org['org_url']}/.default",
            },
        ).json()["access_token"]
        web = httpx.Client(
            base_url=org["api_url"],
            verify=org["ca_file"],
            timeout=60,
            headers={
                "Authorization": f"Bearer {token}",
                "OData-Version": "4.0",
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
        )
        rng = random.Random(7)
        changes: dict[str, dict[str, int]] = {}
        for table, entity_set, counts in (("account", "accounts", (25, 40, 10)), ("contact", "contacts", (30, 20, 15))):
            key = f"{table}id"
            ids = [row[key] for row in web.get(entity_set, params={"$select": key, "$top": "400"}).json()["value"]]
            picked = rng.sample(ids, counts[1] + counts[2])
            for i in range(counts[0]):
                body = (
                    {"name": f"Demo account {i}"}
                    if table == "account"
                    else {"firstname": "Demo", "lastname": f"Contact {i}"}
                )
                web.post(entity_set, json=body).raise_for_status()
            for row_id in picked[: counts[1]]:
                body = {"name": f"Renamed {row_id[:8]}"} if table == "account" else {"jobtitle": "Updated by demo"}
                web.patch(f"{entity_set}({row_id})", json=body).raise_for_status()
            for row_id in picked[counts[1] :]:
                web.delete(f"{entity_set}({row_id})").raise_for_status()
            changes[table] = {"created": counts[0], "updated": counts[1], "deleted": counts[2]}
            self.console.print(f"  {table}: created {counts[0]}, updated {counts[1]}, deleted {counts[2]}")
        return changes

    def check_increment(self, changes: dict[str, dict[str, int]], runs: dict[str, dict[str, Any]]) -> None:
        self.step("Checking that exactly those changes arrived")
        for label, run in runs.items():
            table = label.split(" ")[0]
            n, expected = run_numbers(run), changes[table]
            upserts = expected["created"] + expected["updated"]
            ok = n["read"] == upserts and n["deleted"] == expected["deleted"]
            mark = "[green]✓[/]" if ok else "[red]✗[/]"
            self.console.print(
                f"  {mark} {label}: read {n['read']} changed rows (expected {upserts}), "
                f"{n['deleted']} deletes (expected {expected['deleted']})"
            )
            if not ok:
                raise DemoError(f"the increment of {label} does not match the changes made")

    def write_summary(
        self,
        flows: dict[str, dict[str, str]],
        first: dict[str, Any],
        second: dict[str, Any],
        changes: dict[str, dict[str, int]],
    ) -> None:
        """What the demo showed, as JSON beside its data (``summary.json``), for scripts and tests."""
        summary = {
            "org": ORG,
            "data_dir": str(self.data_dir),
            "flows": flows,
            "runs": {
                "first": {k: run_numbers(v) for k, v in first.items()},
                "second": {k: run_numbers(v) for k, v in second.items()},
            },
            "changes": changes,
        }
        (self.work_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))

    def lake_location(self) -> str:
        return str(self.data_dir / "lake")

    def closing_words(
        self, url: str, api: FlowServiceClient, flows: dict[str, dict[str, str]], runs: dict[str, Any]
    ) -> None:
        lake = self.lake_location()
        first_flow = flows["account"]["flow"]
        query_hint = "SELECT count(*) FROM accounts"
        self.console.print(
            Panel.fit(
                f"Data lives in Delta Lake tables under {lake}\n"
                f"Query it:  .venv/bin/flowservice query '{query_hint}' --org {ORG} --data-dir {self.data_dir}\n"
                f"List the runs of the account flow:\n"
                f"  curl -s '{url}{BASE}/runs?property=flowId=={first_flow}' \\\n"
                f"    -H 'Authorization: Bearer {self.token[:16]}…' -H 'x-api-key: {self.client['client_id']}' \\\n"
                f"    -H 'x-gw-ims-org-id: {ORG}' -H 'x-sandbox-name: prod'\n"
                f"UI: {url}/ui/  (org {ORG}, client id {self.client['client_id']}; with --keep-running)\n"
                f"Demo finished in {time.monotonic() - self.started:.0f}s.",
                title="Done",
                border_style="green",
            )
        )


def run_demo(work_dir: Path, scale: int, keep_running: bool) -> None:
    console = Console(width=None if sys.stdout.isatty() else 120)
    try:
        Demo(work_dir, scale, console, keep_running).run()
    except ApiError as exc:
        raise DemoError(str(exc)) from exc
