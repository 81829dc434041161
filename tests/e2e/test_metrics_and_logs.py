"""``/metrics`` of a real ``flowservice serve`` whose runs execute in its embedded worker processes, over the
emulator: every metric is present and moves during and after the runs (counters from the children through the
multi-process folder, gauges from the database); and the server's JSON logs name the run, flow and org of a
run's lines and never show a connection's password."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from flowservice.domain.catalogue import DYNAMICS_SPEC_ID
from tests.e2e.stack import Stack, change_rows, server_env, spawn, wait_for
from tests.fixtures.server import free_port, postgres_server

Samples = dict[str, dict[frozenset[tuple[str, str]], float]]


def scrape(stack: Stack) -> Samples:
    """Every sample of ``/metrics``, parsed by prometheus-client's own parser: name → labels → value."""
    assert stack.server is not None
    answer = httpx.get(stack.server.url + "/metrics", timeout=30)
    assert answer.status_code == 200, answer.text
    return parse(answer.text)


def parse(exposition: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for key, v in samples.get(name, {}).items() if wanted <= key)


def ended(read: Callable[[Stack], Samples | None], stack: Stack, runs: int) -> Samples:
    """The samples once ``runs`` successful runs are counted as ended (the engine counts a run after its document
    says it ended)."""

    def counted() -> Samples | None:
        found = read(stack)
        done = found and value(found, "flowservice_run_duration_seconds_count", status="success") >= runs
        return found if done else None

    found: Samples = wait_for(counted, f"{runs} ended runs counted")
    return found


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    """One embedded worker process (so a second run waits in the queue), small pages on a slow org, JSON logs."""
    emulator = start_emulator(scale=2500, seed=41, latency=30)
    stack = Stack(
        emulator,
        tmp_path / "server",
        server_env(
            emulator,
            FLOWSERVICE_WORKERS="1",
            FLOWSERVICE_PAGE_SIZE="100",
            FLOWSERVICE_COMMIT_EVERY_ROWS="300",
            FLOWSERVICE_LOG_FORMAT="json",
        ),
    )
    stack.start()
    yield stack
    stack.stop()


def test_metrics_of_runs_in_worker_processes_are_present_and_move_during_and_after_the_runs(stack: Stack) -> None:
    assert stack.api is not None
    org = stack.api.org
    connection = stack.connection()
    accounts, contacts = stack.flow(connection, "account", "merge"), stack.flow(connection, "contact", "merge")
    before = scrape(stack)
    assert value(before, "flowservice_metrics_database_up") == 1
    assert value(before, "flowservice_rows_read_total", org=org) == 0

    # two 429s with a one-second Retry-After, a few pages into the first run
    with stack.emulator.faults([{"kind": "throttle", "table": "accounts", "nth": 4, "count": 2, "retry_after": 1}]):
        first = stack.trigger(accounts)
        second = stack.trigger(contacts)  # waits behind the first: one worker

        def running_with_one_queued() -> Samples | None:
            now = scrape(stack)
            busy = value(now, "flowservice_runs", org=org, status="inProgress") == 1
            queued = value(now, "flowservice_run_queue_depth", org=org) == 1
            return now if busy and queued and value(now, "flowservice_rows_read_total", org=org) > 0 else None

        during = wait_for(running_with_one_queued, "a run in progress, another queued, rows read")
        assert value(during, "flowservice_runs", org=org, status="scheduled") == 1
        assert value(during, "flowservice_run_queue_oldest_age_seconds", org=org) > 0
        assert value(during, "flowservice_source_requests_total", source="dynamics", status="200") > 0
        later = wait_for(
            lambda: (
                (s := scrape(stack))
                and value(s, "flowservice_rows_read_total", org=org)
                > value(during, "flowservice_rows_read_total", org=org)
                and value(s, "flowservice_run_queue_oldest_age_seconds", org=org)
                > value(during, "flowservice_run_queue_oldest_age_seconds", org=org)
                and s
            ),
            "rows read and the queue's age moving while the run goes",
        )
        assert value(later, "flowservice_rows_written_total", org=org) >= value(
            during, "flowservice_rows_written_total", org=org
        )
        runs = [stack.wait(first), stack.wait(second)]
    assert [r["metrics"]["statusSummary"]["status"] for r in runs] == ["success", "success"]

    after = ended(scrape, stack, 2)  # a run's document ends a moment before its worker counts it
    read = sum(r["metrics"]["recordSummary"]["inputRecordCount"] for r in runs)
    written = sum(r["metrics"]["recordSummary"]["outputRecordCount"] for r in runs)
    throttled = sum(r["metrics"]["statusSummary"]["extensions"]["throttledRequests"] for r in runs)
    waited = sum(r["metrics"]["statusSummary"]["extensions"]["throttledWaitSeconds"] for r in runs)
    assert value(after, "flowservice_rows_read_total", org=org) == read > 0
    assert value(after, "flowservice_rows_written_total", org=org) == written == read
    assert value(after, "flowservice_rows_failed_total", org=org) == 0
    assert value(after, "flowservice_source_throttled_requests_total", org=org) == throttled == 2
    assert value(after, "flowservice_source_throttle_wait_seconds_total", org=org) == pytest.approx(waited, abs=0.01)
    assert value(after, "flowservice_source_throttle_wait_seconds_total", org=org) >= 2
    assert value(after, "flowservice_source_requests_total", source="dynamics", status="429") == 2
    assert value(after, "flowservice_source_request_duration_seconds_count", source="dynamics") == value(
        after, "flowservice_source_requests_total", source="dynamics"
    )
    assert value(after, "flowservice_run_duration_seconds_count", status="success") == 2
    assert value(after, "flowservice_run_duration_seconds_sum", status="success") > 0
    assert value(after, "flowservice_runs", org=org, status="success") == 2
    assert value(after, "flowservice_runs", org=org, status="inProgress") == 0
    assert value(after, "flowservice_run_queue_depth", org=org) == 0
    ages = {
        flow: value(after, "flowservice_flow_data_age_seconds", flow_id=flow)
        for flow in (accounts["flow"], contacts["flow"])
    }
    assert all(age > 0 for age in ages.values()), ages
    older = wait_for(
        lambda: (
            (s := scrape(stack))
            and value(s, "flowservice_flow_data_age_seconds", flow_id=accounts["flow"]) > ages[accounts["flow"]]
            and s
        ),
        "the data's age growing while no run lands",
    )

    # deletes at the source: the next run deletes them in the dataset, and the flow's data is fresh again
    change_rows(stack.emulator, "accounts", "accountid", created=0, updated=0, deleted=4, seed=7)
    third = stack.wait(stack.trigger(accounts))
    assert third["metrics"]["recordSummary"]["deletedRecordCount"] == 4
    last = ended(scrape, stack, 3)
    assert value(last, "flowservice_rows_deleted_total", org=org) == 4
    assert value(last, "flowservice_run_duration_seconds_count", status="success") == 3
    assert value(last, "flowservice_flow_data_age_seconds", flow_id=accounts["flow"]) < value(
        older, "flowservice_flow_data_age_seconds", flow_id=accounts["flow"]
    )


def test_json_logs_name_the_run_flow_and_org_of_a_run_and_never_show_a_connection_password(stack: Stack) -> None:
    assert stack.api is not None and stack.server is not None
    connection = stack.connection()  # the emulator user's password, in the request body
    flow = stack.flow(connection, "account", "merge")
    run_id = stack.trigger(flow)
    assert stack.wait(run_id)["metrics"]["statusSummary"]["status"] == "success"
    created = stack.api.post(  # a connection with a wrong password, which the source then refuses
        "/connections",
        json={
            "name": "wrong password",
            "auth": {
                "specName": "Basic Authentication for Dynamics-Online",
                "params": {
                    "serviceUri": stack.emulator.org_url,
                    "username": stack.emulator.username,
                    "password": "Wr0ng-but-Secret-9931",
                },
            },
            "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
        },
        headers={"x-request-id": "ops-test-req-1"},
    )
    assert created.status_code == 201, created.text
    assert created.headers["x-request-id"] == "ops-test-req-1"
    refused = stack.api.get(f"/connections/{created.json()['id']}/explore", params={"objectType": "root"})
    assert refused.status_code >= 400
    assert "Wr0ng-but-Secret-9931" not in refused.text
    text = stack.server.log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines, "the server logs JSON lines"
    assert stack.emulator.password not in text
    assert "Wr0ng-but-Secret-9931" not in text
    of_run = [line for line in lines if line.get("run_id") == run_id]
    assert any(line["message"].startswith(f"run {run_id} success") for line in of_run)
    assert all(line["flow_id"] == flow["flow"] and line["org"] == stack.api.org for line in of_run)
    assert all(line["sandbox"] == "prod" for line in of_run)


@pytest.mark.postgres
def test_a_scale_out_worker_serves_its_own_counters_on_its_metrics_port(start_emulator, tmp_path: Path) -> None:
    base = postgres_server()
    name = f"flowservice_metrics_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    emulator = start_emulator(scale=2500, seed=43, latency=30)
    env = server_env(
        emulator,
        FLOWSERVICE_DATABASE_URL=f"{base}/{name}",
        FLOWSERVICE_EMBEDDED_WORKERS="false",
        FLOWSERVICE_PAGE_SIZE="100",
        FLOWSERVICE_COMMIT_EVERY_ROWS="300",
    )
    stack = Stack(emulator, tmp_path / "server", env)
    stack.start()
    port = free_port()
    command = [sys.executable, "-m", "flowservice", "worker", "--data-dir", str(stack.data_dir)]
    worker = spawn([*command, "--metrics-port", str(port)], {**os.environ, **env}, tmp_path / "worker.log")
    url = f"http://127.0.0.1:{port}/metrics"

    def worker_samples() -> Samples | None:
        try:
            answer = httpx.get(url, timeout=5)
        except httpx.HTTPError:
            return None
        return parse(answer.text) if answer.status_code == 200 else None

    try:
        assert stack.api is not None
        org = stack.api.org
        flow = stack.flow(stack.connection(), "account", "merge")
        wait_for(worker_samples, "the worker's metrics port")
        run_id = stack.trigger(flow)
        during = wait_for(
            lambda: (s := worker_samples()) and value(s, "flowservice_rows_read_total", org=org) > 0 and s,
            "rows read by the worker, during its run",
        )
        run = stack.wait(run_id)
        after = ended(lambda _stack: worker_samples(), stack, 1)
        read = run["metrics"]["recordSummary"]["inputRecordCount"]
        assert value(during, "flowservice_rows_read_total", org=org) < read
        assert value(after, "flowservice_rows_read_total", org=org) == read
        assert (
            value(after, "flowservice_rows_written_total", org=org)
            == run["metrics"]["recordSummary"]["outputRecordCount"]
        )
        assert value(after, "flowservice_run_duration_seconds_count", status="success") == 1
        # the API server's /metrics reads the database (PostgreSQL here): the run is there whichever process ran it
        api_side = scrape(stack)
        assert value(api_side, "flowservice_metrics_database_up") == 1
        assert value(api_side, "flowservice_runs", org=org, status="success") == 1
        assert value(api_side, "flowservice_flow_data_age_seconds", org=org, flow_id=flow["flow"]) > 0
        assert value(api_side, "flowservice_run_queue_depth", org=org) == 0
    finally:
        worker.terminate()
        worker.wait(30)
        stack.stop()
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
