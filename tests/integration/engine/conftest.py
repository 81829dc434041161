"""The engine over real SQLite and real Delta tables, with the working fake source (tests/fakes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID, DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID
from flowservice.settings import Settings
from tests.fakes.source import FakeOrg
from tests.fixtures.server import Api, make_api, seed_body

# A run counts as its worker's while a heartbeat renewed it within half of this: long enough that a loaded
# machine's scheduling delays never make a healthy run look lost, short enough for the takeover tests.
STALE_SECONDS = 6


@dataclass
class Flow:
    id: str
    dataset_id: str
    dataset_name: str


class Harness:
    def __init__(self, api: Api, org: FakeOrg) -> None:
        self.api = api
        self.org = org
        assert api.container is not None
        self.container = api.container
        created = api.post("/connections", json=seed_body())
        assert created.status_code == 201, created.text
        self.connection_id = created.json()["id"]

    def flow(
        self,
        table: str,
        *,
        mode: str = "merge",
        mapping: list[dict[str, Any]] | None = None,
        schedule: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
    ) -> Flow:
        api = self.api
        source = api.post(
            "/sourceConnections",
            json={
                "name": f"{table} source",
                "baseConnectionId": self.connection_id,
                "data": {"format": "tabular"},
                "params": {"tableName": table},
                "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
            },
        )
        assert source.status_code == 201, source.text
        name = f"{table}_{mode}_{len(self.org.tables)}_{time.monotonic_ns()}"
        dataset = api.post("/data/foundation/catalog/dataSets", json={"name": name})
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
        transformations: list[dict[str, Any]] = [{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}]
        if mapping is not None:
            created = api.post("/data/foundation/conversion/mappingSets", json={"mappings": mapping})
            assert created.status_code == 200, created.text
            transformations.append(
                {"name": "Mapping", "params": {"mappingId": created.json()["id"], "mappingVersion": 0}}
            )
        body = {
            "name": f"{table} flow",
            "flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID, "version": "1.0"},
            "sourceConnectionIds": [source.json()["id"]],
            "targetConnectionIds": [target.json()["id"]],
            "transformations": transformations,
            "scheduleParams": schedule
            or {"startTime": str(int(time.time()) + 3600), "frequency": "hour", "interval": "1", "backfill": "false"},
            **({"options": options} if options else {}),
        }
        flow = api.post("/flows", json=body)
        assert flow.status_code == 201, flow.text
        return Flow(flow.json()["id"], dataset_id, name)

    def run(self, flow: Flow, *, expect: str | None = "success") -> dict[str, Any]:
        created = self.api.post("/runs", json={"flowId": flow.id})
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        assert self.container.worker().run_once()
        run = self.api.get(f"/runs/{run_id}").json()["items"][0]
        if expect:
            assert run["metrics"]["statusSummary"]["status"] == expect, run["metrics"]["statusSummary"]
        return run

    def dataset(self, flow: Flow) -> list[dict[str, Any]]:
        path = self.container.catalog.dataset(self.tenant, flow.dataset_id).doc["lake"]["path"]
        return self.container.lake.read(path).to_pylist()

    @property
    def tenant(self) -> Any:
        from flowservice.domain.tenancy import Tenant

        return Tenant(self.api.org, "prod")


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    org = FakeOrg()
    api = make_api(
        Settings(data_dir=tmp_path / "data", commit_every_rows=25, page_size=10, run_stale_seconds=STALE_SECONDS),
        sources=org,
    )
    yield Harness(api, org)
    assert api.container is not None
    api.container.close()
