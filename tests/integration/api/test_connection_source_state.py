"""What the source keeps for a connection (token, limiter, metadata) is released when the connection is
patched or deleted, and test/explore answer through the pool of source calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowservice.domain.tenancy import Tenant
from flowservice.settings import Settings
from flowservice.sources.dynamics import DynamicsSettings, DynamicsSourceFactory
from tests.fixtures.server import Api, make_api, seed_body
from tests.unit.sources.fake_dataverse import ORG, PASSWORD, PUBLIC_IP, USERNAME, sample_org


@pytest.fixture
def factory() -> DynamicsSourceFactory:
    fake = sample_org()
    return DynamicsSourceFactory(
        DynamicsSettings(
            transport=fake.transport(), resolver=lambda host, port: [PUBLIC_IP], sleep=lambda seconds: None
        )
    )


@pytest.fixture
def api(tmp_path: Path, factory: DynamicsSourceFactory) -> Iterator[Api]:
    api = make_api(Settings(data_dir=tmp_path / "data"), sources=factory)
    yield api
    assert api.container is not None
    api.container.close()


def connection(api: Api) -> tuple[str, str]:
    body = seed_body(service_uri=ORG, password=PASSWORD)
    body["auth"]["params"]["username"] = USERNAME
    created = api.post("/connections", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["etag"]


def test_deleting_a_connection_releases_what_its_source_kept(api, factory):
    connection_id, _ = connection(api)
    assert api.get(f"/connections/{connection_id}/test").json() == {"result": True}
    assert api.get(f"/connections/{connection_id}/explore", params={"objectType": "root"}).status_code == 200
    assert len(factory.cache) == 1 and factory.cache.tables(next(iter(factory.cache._entries)), 900)
    assert api.delete(f"/connections/{connection_id}").status_code == 204
    assert len(factory.cache) == 0


def test_patching_a_connection_releases_what_its_source_kept(api, factory):
    connection_id, etag = connection(api)
    assert api.get(f"/connections/{connection_id}/test").json() == {"result": True}
    assert len(factory.cache) == 1
    patched = api.patch(
        f"/connections/{connection_id}",
        headers={"If-Match": etag},
        json=[{"op": "replace", "path": "/name", "value": "renamed"}],
    )
    assert patched.status_code == 200, patched.text
    assert len(factory.cache) == 0


def test_a_tenant_over_its_source_call_limit_gets_429_with_retry_after(api):
    connection_id, _ = connection(api)
    assert api.container is not None
    calls = api.container.connections.calls
    for _ in range(calls.per_tenant):
        calls._acquire(Tenant(api.org, api.sandbox))  # the tenant's slots are all taken
    answer = api.get(f"/connections/{connection_id}/test")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == str(calls.retry_after)
    assert answer.json()["title"] == "Too many requests" and "limit is 4" in answer.json()["errorMessage"]
    explore = api.get(f"/connections/{connection_id}/explore", params={"objectType": "root"})
    assert explore.status_code == 429
    other = api.as_other_client("OTHER0000000000000000000@AdobeOrg")
    other_id, _ = connection(other)
    assert other.get(f"/connections/{other_id}/test").json() == {"result": True}
