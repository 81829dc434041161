"""A real stack for end-to-end tests: a crm_emulator process over HTTPS and a ``flowservice serve`` process
configured for it, driven only through the public API (`flowservice/client.py`, as the demo drives it)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowservice.client import FlowServiceClient, open_http
from flowservice.demo import ORG
from tests.fixtures.server import LiveServer, fetch_token, start_server, stop_server


def wait_for(condition: Callable[..., Any], what: str, timeout: float = 120, every: float = 0.05) -> Any:
    """``condition()``'s first truthy value, asked every ``every`` seconds; an AssertionError naming ``what``
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"gave up waiting, after {timeout:.0f} s, for {what}")


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A process with its output in ``log`` (the child writes to its own copy of the file, ours is closed)."""
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def server_env(emulator: Any, **extra: str) -> dict[str, str]:
    return {
        "FLOWSERVICE_DYNAMICS_AUTHORITY_HOSTS": emulator.authority_host,
        "FLOWSERVICE_DYNAMICS_CA_BUNDLE": emulator.ca_file,
        "FLOWSERVICE_DYNAMICS_ALLOW_PRIVATE_ADDRESSES": "true",
        "FLOWSERVICE_SCHEDULER_INTERVAL_SECONDS": "1",
        **extra,
    }


@dataclass
class Stack:
    emulator: Any
    data_dir: Path
    env: dict[str, str]
    server: LiveServer | None = None
    api: FlowServiceClient | None = None
    credentials: dict[str, str] = field(default_factory=dict)
    ui_server: LiveServer | None = None
    """A second ``flowservice serve`` whose UI calls this stack's API over HTTP (``FLOWSERVICE_UI_API_URL``)."""

    @property
    def ui_url(self) -> str:
        """Where a browser opens the UI: the second server when there is one, else the API's own."""
        server = self.ui_server or self.server
        assert server is not None
        return server.url

    def start_remote_ui(self) -> None:
        assert self.server is not None
        env = {**self.env, "FLOWSERVICE_UI_API_URL": self.server.url}
        self.ui_server = start_server(self.data_dir.parent / f"{self.data_dir.name}-ui", env)

    def start(self) -> FlowServiceClient:
        self.server = start_server(self.data_dir, self.env)
        try:
            if not self.credentials:
                import json

                self.credentials = json.loads(self.server.cli("clients", "create", "--org", ORG, "--name", "e2e"))
            http = open_http(self.server.url, timeout=120)
            token = fetch_token(http, self.credentials["client_id"], self.credentials["client_secret"])
        except BaseException:
            self.stop()  # never leave a server behind when the stack could not start
            raise
        self.api = FlowServiceClient(http, org=ORG, client_id=self.credentials["client_id"], token=token)
        return self.api

    def kill(self) -> None:
        assert self.server is not None
        self.server.process.kill()
        self.server.process.wait()

    def stop(self) -> None:
        for server in (self.ui_server, self.server):
            if server is not None and server.process.poll() is None:
                stop_server(server)

    def connection(self) -> str:
        assert self.api is not None
        params = {
            "serviceUri": self.emulator.org_url,
            "username": self.emulator.username,
            "password": self.emulator.password,
        }
        return self.api.create_connection(
            "Dynamics", auth_spec="Basic Authentication for Dynamics-Online", params=params
        ).id

    def flow(self, connection: str, table: str, mode: str) -> dict[str, str]:
        api = self.api
        assert api is not None
        dataset_id = api.create_dataset(f"{table}_{mode}")
        source = api.create_source_connection(table, base_connection_id=connection, table=table)
        target = api.create_target_connection(table, dataset_id=dataset_id, write_mode=mode)
        flow = api.create_flow(
            f"{table} {mode}",
            source_connection_id=source.id,
            target_connection_id=target.id,
            transformations=[{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}],
            schedule={"startTime": str(int(time.time()) + 86400), "frequency": "day", "interval": "1"},
        )
        return {"flow": flow.id, "dataset": dataset_id, "name": f"{table}_{mode}", "table": table}

    def trigger(self, flow: dict[str, str]) -> str:
        assert self.api is not None
        return self.api.start_run(flow["flow"])

    def wait(self, run_id: str, timeout: float = 120) -> dict[str, Any]:
        assert self.api is not None
        return self.api.wait_for_run(run_id, timeout=timeout)

    def dataset_rows(self, flow: dict[str, str]) -> list[dict[str, Any]]:
        return self.query(f'SELECT * FROM "{flow["name"]}"')

    def query(self, sql: str) -> list[dict[str, Any]]:
        """``sql`` over the org's datasets, as ``flowservice query`` runs it."""
        from flowservice.bootstrap import build
        from flowservice.settings import Settings

        container = build(Settings(data_dir=self.data_dir, database_url=self.env.get("FLOWSERVICE_DATABASE_URL")))
        try:
            rows: list[dict[str, Any]] = container.query(ORG, "prod", sql).to_pylist()
            return rows
        finally:
            container.close()


def source_rows(emulator: Any, entity_set: str, key: str) -> dict[str, str]:
    """Every row of a table in the emulator: key → modifiedon."""
    rows: dict[str, str] = {}
    with emulator.client() as client:
        url: str | None = f"{entity_set}?$select={key},modifiedon"
        while url:
            page = client.get(url, headers={"Prefer": "odata.maxpagesize=5000"}).json()
            rows.update({r[key]: r["modifiedon"] for r in page["value"]})
            url = page.get("@odata.nextLink")
    return rows


def change_rows(
    emulator: Any, entity_set: str, key: str, *, created: int, updated: int, deleted: int, seed: int
) -> None:
    import random

    rng = random.Random(seed)
    with emulator.client() as client:
        ids = list(source_rows(emulator, entity_set, key))
        picked = rng.sample(ids, updated + deleted)
        for i in range(created):
            body = {"name": f"e2e {seed}-{i}"} if entity_set == "accounts" else {"lastname": f"e2e {seed}-{i}"}
            client.post(entity_set, json=body).raise_for_status()
        for row_id in picked[:updated]:
            body = {"name": f"upd {seed}"} if entity_set == "accounts" else {"jobtitle": f"upd {seed}"}
            client.patch(f"{entity_set}({row_id})", json=body).raise_for_status()
        for row_id in picked[updated:]:
            client.delete(f"{entity_set}({row_id})").raise_for_status()


def iso(value: Any) -> str:
    """Delta timestamps and Dataverse strings compared at second precision, in UTC."""
    import datetime as dt

    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)[:19] + "Z"
