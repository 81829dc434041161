"""Partitioned first reads of one change-tracked table (``sources/dynamics/partitions.py``), against the emulator
with random GUIDs, so that SQL Server's key order differs from string order and every range must get it right.

The source on its own first: every row once, resumption from a composite cursor, a failing partition, changes
made during the read. Then the engine over real SQLite and Delta: merge and append land the source exactly, a
run that fails mid-read is resumed by the next, and service protection's 429s are absorbed and counted.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID, DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID
from flowservice.domain.tenancy import Tenant
from flowservice.ports import Page
from flowservice.settings import Settings
from flowservice.sources.dynamics import DynamicsSource, DynamicsSourceFactory
from flowservice.sources.dynamics.partitions import PARTITIONED, sql_order
from tests.fixtures.emulator import EmulatorHandle, launch
from tests.fixtures.server import Api, make_api
from tests.integration.sources.dynamics_helpers import basic_source, settings_for, write_client

ROWS = 2000
PARTITIONED_SETTINGS: dict[str, Any] = {
    "partition_min_rows": 300,
    "partition_below_rows_per_second": 0,  # whatever the speed: this emulator is fast
    "partition_page_rows": 100,
    "partition_concurrency": 6,
    "partition_pages_in_flight": 4,
}


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    handle = launch(tmp_path_factory.mktemp("partitioned-org"), scale=ROWS, random_guids=True)
    try:
        yield handle
    finally:
        handle.stop()


_OPENED: list[DynamicsSource] = []


@pytest.fixture(autouse=True)
def _close_sources() -> Iterator[None]:
    yield
    while _OPENED:
        _OPENED.pop().close()


def partitioned(emulator: EmulatorHandle, **overrides: Any) -> DynamicsSource:
    source = basic_source(emulator, **{**PARTITIONED_SETTINGS, **overrides})
    _OPENED.append(source)
    return source


def single_chain(emulator: EmulatorHandle) -> DynamicsSource:
    source = basic_source(emulator, partition_min_rows=0)
    _OPENED.append(source)
    return source


def rows_of(pages: list[Page]) -> list[tuple[str, str | None]]:
    return [(r["accountid"], r["name"]) for p in pages for r in p.batch.select(["accountid", "name"]).to_pylist()]


def checksum(rows: list[tuple[str, str | None]]) -> str:
    return hashlib.sha256("\n".join(f"{k}\t{v}" for k, v in sorted(rows)).encode()).hexdigest()


def source_rows(emulator: EmulatorHandle) -> list[tuple[str, str | None]]:
    """The table as it is now, read by the single chain (the reference every partitioned read must equal)."""
    return rows_of(list(single_chain(emulator).read("account", ["name"], None)))


# ------------------------------------------------------------------------------------------------ the source
def test_a_partitioned_first_read_yields_every_row_once_and_ends_with_a_delta_link_of_the_flows_columns(org):
    expected = source_rows(org)
    own, pools, pages = pa.default_memory_pool().backend_name, set(), []
    for page in partitioned(org).read("account", ["name"], None):
        pools.add(pa.default_memory_pool().backend_name)
        pages.append(page)
    assert pools == {"system"}, "its pages come from the C allocator (sources/net/arrow_pool.py)"
    assert pa.default_memory_pool().backend_name == own, "and the process's own pool after it"
    rows = rows_of(pages)
    assert len(rows) == len(expected) == len({k for k, _ in rows}) >= ROWS
    assert checksum(rows) == checksum(expected)
    composite = [p.cursor for p in pages if p.cursor.get("mode") == PARTITIONED]
    assert composite and max(len(c["tiles"]) for c in composite) >= 2, "several key ranges were read side by side"
    assert [p.final for p in pages].count(True) == 1 and pages[-1].final
    final = pages[-1].cursor
    assert final["mode"] == "changes" and "$deltatoken=" in final["delta_link"]
    assert "$select=accountid,name" in final["delta_link"], "the next run reads the flow's columns, not the keys"
    assert [k for k, _ in rows] != sorted(k for k, _ in rows), "pages of several ranges interleave"


def test_the_key_ranges_follow_sql_server_order_which_is_not_string_order(org):
    pages = list(partitioned(org).read("account", ["name"], None))
    cuts = sorted({t[1] for p in pages if p.cursor.get("mode") == PARTITIONED for t in p.cursor["tiles"] if t[1]})
    by_sql = sorted(cuts, key=sql_order)
    assert len(cuts) > 3 and by_sql != cuts, "random GUIDs: the cuts' string order is not their key order"
    for page in pages:
        if page.cursor.get("mode") == PARTITIONED:
            bounds = [t[1] for t in page.cursor["tiles"] if t[1]]
            assert bounds == sorted(bounds, key=sql_order), "live tiles are kept in key order"


def test_a_read_resumed_from_a_mid_read_composite_cursor_reads_each_remaining_row_once(org):
    source = partitioned(org)
    pages = list(source.read("account", ["name"], None))
    everything = rows_of(pages)
    for k in (0, len(pages) // 3, (2 * len(pages)) // 3):
        cursor = pages[k].cursor
        assert cursor["mode"] == PARTITIONED and source.cursor_info(cursor).mid_read
        before = rows_of(pages[: k + 1])
        after = rows_of(list(partitioned(org).read("account", ["name"], cursor)))
        assert not {key for key, _ in before} & {key for key, _ in after}, f"nothing read twice (resumed at {k})"
        assert checksum(before + after) == checksum(everything), f"nothing lost (resumed at {k})"


def test_a_read_resumed_after_its_key_scan_ended_reads_the_remaining_tiles_once_without_scanning_again(org):
    source = partitioned(org, partition_concurrency=12)  # room for all 20 tiles: the scan never waits for workers
    reading = source.read("account", ["name"], None)
    pages = [next(reading)]
    time.sleep(1)  # the scan's 20 key pages end meanwhile; the tiles wait for the 4 pages in flight to be taken
    pages += list(reading)
    k = next(i for i, p in enumerate(pages) if p.cursor.get("mode") == PARTITIONED and p.cursor["delta_link"])
    cursor = pages[k].cursor
    assert cursor["keys"] is None and cursor["tiles"], "the scan had ended, tiles were left to read"
    before = rows_of(pages[: k + 1])
    after = rows_of(list(partitioned(org).read("account", ["name"], cursor)))
    assert not {key for key, _ in before} & {key for key, _ in after}
    assert checksum(before + after) == checksum(rows_of(pages))


def test_with_default_speed_settings_a_slow_org_is_read_in_partitions_and_exactly(tmp_path_factory):
    emulator = launch(tmp_path_factory.mktemp("slow-org"), scale=ROWS, random_guids=True, cost_model=True)
    try:
        defaults = {k: v for k, v in PARTITIONED_SETTINGS.items() if k != "partition_below_rows_per_second"}
        source = basic_source(emulator, **defaults)
        _OPENED.append(source)
        pages = list(source.read("account", ["name"], None))
        assert any(p.cursor.get("mode") == PARTITIONED for p in pages), "~1,100 rows/s at 100-row pages: slow"
        rows = rows_of(pages)
        assert len(rows) == len({k for k, _ in rows}) and checksum(rows) == checksum(source_rows(emulator))
    finally:
        emulator.stop()


def test_an_org_faster_than_the_speed_threshold_is_read_by_the_single_chain_with_nothing_read_twice(org):
    pages = list(partitioned(org, partition_below_rows_per_second=500).read("account", ["name"], None))
    assert all(p.cursor.get("mode") == "changes" for p in pages), "the timed page was dropped, one chain read"
    rows = rows_of(pages)
    assert len(rows) == len({k for k, _ in rows}) and checksum(rows) == checksum(source_rows(org))


def test_a_table_below_the_threshold_is_read_by_the_single_chain_as_before(org):
    pages = list(partitioned(org, partition_min_rows=10 * ROWS).read("account", ["name"], None))
    assert all(p.cursor.get("mode") == "changes" for p in pages)
    assert all("next_link" in p.cursor for p in pages[:-1]) and "delta_link" in pages[-1].cursor
    assert checksum(rows_of(pages)) == checksum(source_rows(org))


def test_a_partition_that_fails_is_taken_up_again_and_the_read_stays_exact(org):
    expected = source_rows(org)
    rule = {"kind": "unavailable", "path": "/api/data/v9.2/accounts", "nth": 6, "count": 3}
    with org.faults([rule]):
        before = org.stats()["faults_fired"]
        pages = list(partitioned(org, max_retries=0).read("account", ["name"], None))
        fired = sum(org.stats()["faults_fired"].values()) - sum(before.values())
    assert fired == 3, "the fault plan cut three page requests, which no call retried itself"
    rows = rows_of(pages)
    assert len(rows) == len(expected) and checksum(rows) == checksum(expected)


def test_rows_created_updated_and_deleted_during_a_partitioned_read_all_arrive_by_the_next_read(org):
    source = partitioned(org)
    model: dict[str, str | None] = {}
    reading = source.read("account", ["name"], None)
    first = next(reading)
    model.update(rows_of([first]))
    known = sorted((k for k, _ in source_rows(org)), key=sql_order)
    read_already, far_away, doomed = next(iter(model)), known[-1], known[len(known) // 2]
    with write_client(org) as api:
        created = api.post("accounts", json={"name": "created during the load"})
        assert created.status_code == 204, created.text
        for key, name in ((read_already, "updated after it was read"), (far_away, "updated before it was read")):
            assert api.patch(f"accounts({key})", json={"name": name}).status_code == 204
        assert api.delete(f"accounts({doomed})").status_code == 204
    rest = list(reading)
    model.update(rows_of(rest))
    changes = list(partitioned(org).read("account", ["name"], rest[-1].cursor))
    for page in changes:
        model.update(rows_of([page]))
        for key in page.deleted_keys:
            model.pop(key, None)
    assert sorted(model.items()) == sorted(source_rows(org))
    assert model[read_already] == "updated after it was read" and doomed not in model
    assert "created during the load" in model.values()


# ------------------------------------------------------------------------------------------------ the engine
class Landing:
    """The API in-process with the real Dynamics source, one connection to the emulator, flows of ``account``."""

    def __init__(self, api: Api, emulator: EmulatorHandle) -> None:
        self.api = api
        assert api.container is not None
        self.container = api.container
        body = {
            "name": "emulated org",
            "auth": {
                "specName": "Basic Authentication for Dynamics-Online",
                "params": {
                    "serviceUri": emulator.org_url,
                    "username": emulator.username,
                    "password": emulator.password,
                },
            },
            "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
        }
        created = api.post("/connections", json=body)
        assert created.status_code == 201, created.text
        self.connection_id = created.json()["id"]

    def flow(self, mode: str) -> tuple[str, str]:
        api = self.api
        source = api.post(
            "/sourceConnections",
            json={
                "name": "accounts",
                "baseConnectionId": self.connection_id,
                "data": {"format": "tabular"},
                "params": {"tableName": "account", "columns": ["name", "modifiedon"]},
                "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
            },
        )
        assert source.status_code == 201, source.text
        dataset = api.post("/data/foundation/catalog/dataSets", json={"name": f"accounts_{mode}_{time.time_ns()}"})
        assert dataset.status_code == 201, dataset.text
        dataset_id = dataset.json()[0].split("/")[-1]
        target = api.post(
            "/targetConnections",
            json={
                "name": "lake",
                "data": {"format": "delta"},
                "params": {"dataSetId": dataset_id, "writeMode": mode},
                "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
            },
        )
        assert target.status_code == 201, target.text
        flow = api.post(
            "/flows",
            json={
                "name": "accounts flow",
                "flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID, "version": "1.0"},
                "sourceConnectionIds": [source.json()["id"]],
                "targetConnectionIds": [target.json()["id"]],
                "transformations": [{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}],
                "scheduleParams": {
                    "startTime": str(int(time.time()) + 3600),
                    "frequency": "hour",
                    "interval": "1",
                    "backfill": "false",
                },
            },
        )
        assert flow.status_code == 201, flow.text
        return flow.json()["id"], dataset_id

    def run(self, flow_id: str, expect: str = "success") -> dict[str, Any]:
        created = self.api.post("/runs", json={"flowId": flow_id})
        assert created.status_code == 201, created.text
        assert self.container.worker().run_once()
        run: dict[str, Any] = self.api.get(f"/runs/{created.json()['id']}").json()["items"][0]
        assert run["metrics"]["statusSummary"]["status"] == expect, run["metrics"]["statusSummary"]
        return run

    def dataset(self, dataset_id: str) -> list[dict[str, Any]]:
        tenant = Tenant(self.api.org, "prod")
        path = self.container.catalog.dataset(tenant, dataset_id).doc["lake"]["path"]
        rows: list[dict[str, Any]] = self.container.lake.read(path).to_pylist()
        return rows


def landed(rows: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(r["accountid"], r["name"]) for r in rows]


@pytest.fixture
def landing_for(tmp_path: Path) -> Iterator[Callable[..., Landing]]:
    made: list[Api] = []

    def make(emulator: EmulatorHandle, wrap: Callable[[Any], Any] | None = None, **overrides: Any) -> Landing:
        factory: Any = DynamicsSourceFactory(settings_for(emulator, **{**PARTITIONED_SETTINGS, **overrides}))
        settings = Settings(data_dir=tmp_path / f"data{len(made)}", commit_every_rows=250, page_size=100)
        api = make_api(settings, sources=wrap(factory) if wrap else factory)
        made.append(api)
        return Landing(api, emulator)

    yield make
    for api in made:
        assert api.container is not None
        api.container.close()


@pytest.mark.parametrize("mode", ["merge", "append"])
def test_a_partitioned_first_run_lands_exactly_the_source_in_merge_and_append(org, landing_for, mode):
    landing = landing_for(org)
    flow_id, dataset_id = landing.flow(mode)
    run = landing.run(flow_id)
    expected = source_rows(org)
    rows = landed(landing.dataset(dataset_id))
    assert len(rows) == len(expected) == run["metrics"]["recordSummary"]["outputRecordCount"]
    assert checksum(rows) == checksum(expected)
    again = landing.run(flow_id)  # the next run is an ordinary incremental one, from the delta link
    assert again["metrics"]["recordSummary"]["inputRecordCount"] == 0
    assert checksum(landed(landing.dataset(dataset_id))) == checksum(expected)


def test_a_run_that_fails_mid_read_is_resumed_from_its_composite_cursor_by_the_next_and_lands_exactly(org, landing_for):
    landing = landing_for(org)
    flow_id, dataset_id = landing.flow("merge")
    rule = {
        "kind": "error",
        "path": "/api/data/v9.2/accounts",
        "nth": 14,
        "count": 1,
        "status": 400,
        "code": "0x80040216",
        "message": "An injected failure that no retry mends.",
    }
    with org.faults([rule]):
        failed = landing.run(flow_id, expect="failed")
    landed_first = failed["metrics"]["recordSummary"]["outputRecordCount"]
    assert 0 < landed_first < ROWS, "the failed run committed some partitions' pages before it stopped"
    resumed = landing.run(flow_id)
    expected = source_rows(org)
    assert resumed["metrics"]["recordSummary"]["inputRecordCount"] < len(expected), "only the rest was read"
    rows = landed(landing.dataset(dataset_id))
    assert len(rows) == len(expected) and checksum(rows) == checksum(expected)


class _Hooked:
    """A source whose read calls ``hook`` once, after its first page: changes made while the load goes on."""

    def __init__(self, inner: Any, hook: Callable[[], None]) -> None:
        self._inner, self._hook = inner, hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def read(self, *args: Any, **kwargs: Any) -> Iterator[Page]:
        pages = self._inner.read(*args, **kwargs)
        for n, page in enumerate(pages):
            yield page
            if n == 0:
                self._hook()


def test_rows_created_updated_and_deleted_during_a_partitioned_run_are_landed_by_the_next_run(
    tmp_path_factory, landing_for
):
    emulator = launch(tmp_path_factory.mktemp("changing-org"), scale=ROWS, random_guids=True)
    try:
        keys = sorted((k for k, _ in source_rows(emulator)), key=sql_order)
        done: list[bool] = []

        def change() -> None:
            if done:
                return
            done.append(True)
            with write_client(emulator) as api:
                assert api.post("accounts", json={"name": "born mid-load"}).status_code == 204
                assert api.patch(f"accounts({keys[-1]})", json={"name": "renamed mid-load"}).status_code == 204
                assert api.patch(f"accounts({keys[0]})", json={"name": "renamed too"}).status_code == 204
                assert api.delete(f"accounts({keys[len(keys) // 2]})").status_code == 204

        def wrap(factory: Any) -> Any:
            return lambda *args: _Hooked(factory(*args), change)

        landing = landing_for(emulator, wrap=wrap)
        flow_id, dataset_id = landing.flow("merge")
        landing.run(flow_id)
        assert done, "the changes were made while the first run was reading"
        landing.run(flow_id)
        rows = landed(landing.dataset(dataset_id))
        expected = source_rows(emulator)
        assert len(rows) == len(expected) and checksum(rows) == checksum(expected)
        names = dict(rows)
        assert names[keys[-1]] == "renamed mid-load" and keys[len(keys) // 2] not in names
        assert "born mid-load" in names.values()
    finally:
        emulator.stop()


def test_service_protection_429s_are_absorbed_and_counted_in_the_run_metrics(tmp_path_factory, landing_for):
    emulator = launch(
        tmp_path_factory.mktemp("protected-org"), scale=ROWS, random_guids=True, protection_window_seconds=2
    )
    try:
        landing = landing_for(emulator, max_retries=12, partition_page_rows=20)
        flow_id, dataset_id = landing.flow("merge")
        run = landing.run(flow_id)
        extensions = run["metrics"]["statusSummary"]["extensions"]
        assert extensions["throttledRequests"] > 0 and extensions["throttledWaitSeconds"] > 0
        refused = sum(sum(b["throttled"].values()) for b in emulator.protection()["budgets"])
        assert refused >= extensions["throttledRequests"], "every 429 counted was one the org answered"
        rows = landed(landing.dataset(dataset_id))
        expected = source_rows(emulator)
        assert len(rows) == len(expected) and checksum(rows) == checksum(expected)
    finally:
        emulator.stop()
