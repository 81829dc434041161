"""A second source joins through the registry alone: its package (``tests/fakes/second_source``, with its own
spec id, connection spec and settings) and one entry in the registry are all it takes for the API to serve its
spec, and for a flow to land its rows in a dataset. It passes the source contract as a watermark-only source."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flowservice.api.app import create_app
from flowservice.bootstrap import build, source_registry
from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID, DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID
from flowservice.domain.tenancy import Tenant
from flowservice.settings import Settings
from flowservice.sources.registry import SourceDispatch
from tests.fakes import second_source
from tests.fixtures.server import Api, fetch_token

from .contract import Capabilities, SourceContract


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("FLOWSERVICE_SECOND_SOURCE_ROWS", "37")
    registry = source_registry().with_sources(second_source.SOURCE)
    container = build(Settings(data_dir=tmp_path / "data", commit_every_rows=25, page_size=10), registry=registry)
    http = TestClient(create_app(container), raise_server_exceptions=False)
    org = f"{uuid.uuid4().hex[:24].upper()}@AdobeOrg"
    creds = container.identity.create_client(org, "tests")
    token = fetch_token(http, creds["client_id"], creds["client_secret"])
    yield Api(http, org, creds["client_id"], creds["client_secret"], token, container)
    container.close()


def created(response: Any) -> Any:
    assert response.status_code == 201, response.text
    return response.json()


def flow_from_the_second_source(api: Api) -> tuple[str, str]:
    """A base connection, source and target connections and a flow, all through the API: (flow, dataset)."""
    spec = {"id": second_source.SPEC_ID, "version": "1.0"}
    auth = {"specName": second_source.AUTH_SPEC, "params": {"account": "acme", "apiKey": "open-sesame"}}
    base = created(api.post("/connections", json={"name": "second", "auth": auth, "connectionSpec": spec}))["id"]
    source = created(
        api.post(
            "/sourceConnections",
            json={
                "name": "contacts",
                "baseConnectionId": base,
                "params": {"tableName": "contact"},
                "connectionSpec": spec,
            },
        )
    )["id"]
    dataset = api.post("/data/foundation/catalog/dataSets", json={"name": f"contacts_{time.monotonic_ns()}"})
    dataset_id = created(dataset)[0].split("/")[-1]
    target = created(
        api.post(
            "/targetConnections",
            json={
                "name": "lake",
                "data": {"format": "delta"},
                "params": {"dataSetId": dataset_id, "writeMode": "merge"},
                "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
            },
        )
    )["id"]
    flow = api.post(
        "/flows",
        json={
            "name": "contacts flow",
            "flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID, "version": "1.0"},
            "sourceConnectionIds": [source],
            "targetConnectionIds": [target],
            "transformations": [{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}],
            "scheduleParams": {"startTime": str(int(time.time()) + 3600), "frequency": "hour", "interval": "1"},
        },
    )
    return created(flow)["id"], dataset_id


def run(api: Api, flow_id: str) -> dict[str, Any]:
    run_id = created(api.post("/runs", json={"flowId": flow_id}))["id"]
    assert api.container is not None
    assert api.container.worker().run_once()
    document: dict[str, Any] = api.get(f"/runs/{run_id}").json()["items"][0]
    return document


def dataset_rows(api: Api, dataset_id: str) -> dict[str, str]:
    assert api.container is not None
    tenant = Tenant(api.org, "prod")
    path = api.container.catalog.dataset(tenant, dataset_id).doc["lake"]["path"]
    return {row["contactid"]: row["name"] for row in api.container.lake.read(path).to_pylist()}


def test_the_api_serves_the_second_sources_spec_after_the_specs_it_served_before(api: Api) -> None:
    ids = [spec["id"] for spec in api.get("/connectionSpecs").json()["items"]]
    assert ids == [DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID, second_source.SPEC_ID]
    spec = api.get(f"/connectionSpecs/{second_source.SPEC_ID}").json()["items"][0]
    assert spec["name"] == "second-source"


def test_a_flow_from_the_second_source_lands_its_rows_and_then_its_changes(api: Api) -> None:
    flow_id, dataset_id = flow_from_the_second_source(api)
    first = run(api, flow_id)
    assert first["metrics"]["statusSummary"]["status"] == "success", first["metrics"]["statusSummary"]
    rows = dataset_rows(api, dataset_id)
    assert rows == {f"c-{i:04d}": f"Contact {i}" for i in range(37)}  # FLOWSERVICE_SECOND_SOURCE_ROWS

    assert api.container is not None
    dispatch = api.container.connections.sources
    assert isinstance(dispatch, SourceDispatch)
    factory = dispatch.factories[second_source.SPEC_ID]
    assert isinstance(factory, second_source.SecondSourceFactory)
    factory.store.upsert("c-0003", "Renamed at the source")
    factory.store.upsert("c-0100", "Created at the source")
    second = run(api, flow_id)
    assert second["metrics"]["statusSummary"]["status"] == "success", second["metrics"]["statusSummary"]
    assert dataset_rows(api, dataset_id) == {
        **rows,
        "c-0003": "Renamed at the source",
        "c-0100": "Created at the source",
    }


def test_explore_lists_the_second_sources_table(api: Api) -> None:
    spec = {"id": second_source.SPEC_ID, "version": "1.0"}
    auth = {"specName": second_source.AUTH_SPEC, "params": {"account": "acme", "apiKey": "open-sesame"}}
    base = created(api.post("/connections", json={"name": "second", "auth": auth, "connectionSpec": spec}))["id"]
    assert api.get(f"/connections/{base}/test").json() == {"result": True}
    root = api.get(f"/connections/{base}/explore", params={"objectType": "root"})
    assert root.status_code == 200, root.text
    assert [(item["name"], item["path"]) for item in root.json()] == [("Contact", "contact")]


class TestSecondSourceContract(SourceContract):
    capabilities = Capabilities(change_tracking=False, deletes=False, throttling=False)

    @pytest.fixture
    def factory(self) -> second_source.SecondSourceFactory:
        return second_source.SecondSourceFactory(second_source.SecondSourceSettings(rows=120))

    @pytest.fixture
    def source(self, factory: second_source.SecondSourceFactory) -> second_source.SecondSourceClient:
        return factory(second_source.SPEC_ID, second_source.AUTH_SPEC, {"account": "a", "apiKey": "open-sesame"})

    @pytest.fixture
    def bad_credentials_source(self, factory: second_source.SecondSourceFactory) -> second_source.SecondSourceClient:
        return factory(second_source.SPEC_ID, second_source.AUTH_SPEC, {"account": "a", "apiKey": "wrong"})

    @pytest.fixture
    def table(self) -> str:
        return "contact"

    @pytest.fixture
    def change(self, factory: second_source.SecondSourceFactory) -> Callable[[], tuple[set[str], set[str]]]:
        def change() -> tuple[set[str], set[str]]:
            factory.store.upsert("c-0001", "Renamed by the contract")
            factory.store.upsert("c-9999", "Created by the contract")
            factory.store.delete("c-0002")
            return {"c-0001", "c-9999"}, {"c-0002"}

        return change

    @pytest.fixture
    def read_kwargs(self) -> dict[str, Any]:
        return {"page_size": 50}
