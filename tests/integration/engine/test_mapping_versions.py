"""Mapping sets have versions: ``PUT`` makes the next one, older ones stay readable, a flow's
``mappingVersion`` decides what its runs apply and each run records (and keeps) the version it started with.
Through the API on real SQLite and PostgreSQL, the working fake source and real Delta tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowservice.domain.errors import PreconditionFailed
from flowservice.settings import Settings
from tests.fakes.source import FakeOrg, make_row
from tests.fixtures.server import make_api, postgres_url
from tests.integration.engine.conftest import Flow, Harness

MAPPING_SETS = "/data/foundation/conversion/mappingSets"
V0 = [
    {"sourceType": "ATTRIBUTE", "source": "accountid", "destination": "id"},
    {"sourceType": "ATTRIBUTE", "source": "name", "destination": "label"},
    {"sourceType": "ATTRIBUTE", "source": "modifiedon", "destination": "modifiedon"},
]
V1 = [
    {"sourceType": "ATTRIBUTE", "source": "accountid", "destination": "id"},
    {"sourceType": "EXPRESSION", "source": "upper(name)", "destination": "label"},
    {"sourceType": "STATIC", "source": "v1", "destination": "origin"},
    {"sourceType": "ATTRIBUTE", "source": "modifiedon", "destination": "modifiedon"},
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """The engine harness on SQLite and on PostgreSQL (each test leaves no claimable run behind)."""
    url = postgres_url() if request.param == "postgres" else None
    org = FakeOrg()
    api = make_api(
        Settings(data_dir=tmp_path / "data", database_url=url, commit_every_rows=25, page_size=10), sources=org
    )
    yield Harness(api, org)
    assert api.container is not None
    api.container.close()


def error_code(response: Any) -> str:
    return str(response.json()["type"].rsplit("/", 1)[-1])


def create_set(harness: Harness, mappings: list[dict[str, Any]]) -> str:
    created = harness.api.post(MAPPING_SETS, json={"mappings": mappings})
    assert created.status_code == 200, created.text
    assert created.json()["version"] == 0
    return str(created.json()["id"])


def put_set(harness: Harness, mapping_id: str, mappings: list[dict[str, Any]]) -> dict[str, Any]:
    response = harness.api.put(f"{MAPPING_SETS}/{mapping_id}", json={"mappings": mappings})
    assert response.status_code == 200, response.text
    return dict(response.json())


def destinations(doc: dict[str, Any]) -> list[str]:
    return [m["destination"] for m in doc["mappings"]]


def mapping_params(flow_doc: dict[str, Any]) -> dict[str, Any]:
    return dict(next(t["params"] for t in flow_doc["transformations"] if t["name"] == "Mapping"))


def patch_version(harness: Harness, flow: Flow, version: Any) -> Any:
    current = harness.api.get(f"/flows/{flow.id}").json()["items"][0]
    index = next(i for i, t in enumerate(current["transformations"]) if t["name"] == "Mapping")
    return harness.api.patch(
        f"/flows/{flow.id}",
        json=[{"op": "replace", "path": f"/transformations/{index}/params/mappingVersion", "value": version}],
        headers={"If-Match": current["etag"]},
    )


def applied(run: dict[str, Any]) -> list[dict[str, Any]]:
    return list(run["transformations"])


# ------------------------------------------------------------------------------ the mapping set API


def test_each_put_makes_the_next_version_and_every_older_one_stays_readable(any_harness: Harness) -> None:
    mapping_id = create_set(any_harness, V0)
    one = put_set(any_harness, mapping_id, V1)
    assert (
        one["id"] == mapping_id and one["version"] == 1 and destinations(one) == ["id", "label", "origin", "modifiedon"]
    )
    two = put_set(any_harness, mapping_id, V0[:2])
    assert (
        two["version"] == 2 and two["createdDate"] == one["createdDate"] and two["modifiedDate"] >= one["modifiedDate"]
    )
    api = any_harness.api
    latest = api.get(f"{MAPPING_SETS}/{mapping_id}").json()
    assert latest["version"] == 2 and destinations(latest) == ["id", "label"]
    for version, expected in ((0, V0), (1, V1), (2, V0[:2])):
        got = api.get(f"{MAPPING_SETS}/{mapping_id}", params={"version": str(version)})
        assert got.status_code == 200, got.text
        assert got.json()["version"] == version and got.json()["id"] == mapping_id
        assert destinations(got.json()) == [m["destination"] for m in expected]
    listed = api.get(MAPPING_SETS).json()["data"]
    assert [(d["id"], d["version"]) for d in listed] == [(mapping_id, 2)]


def test_a_bad_put_is_the_create_error_and_makes_no_version(any_harness: Harness) -> None:
    mapping_id = create_set(any_harness, V0)
    bad = {"mappings": [{"sourceType": "EXPRESSION", "source": "upper(name", "destination": "label"}]}
    created = any_harness.api.post(MAPPING_SETS, json=bad)
    put = any_harness.api.put(f"{MAPPING_SETS}/{mapping_id}", json=bad)
    assert put.status_code == created.status_code == 400
    assert error_code(put) == error_code(created) == "FLOW-1419-400"
    assert put.json()["errorMessage"] == created.json()["errorMessage"]
    latest = any_harness.api.get(f"{MAPPING_SETS}/{mapping_id}").json()
    assert latest["version"] == 0 and destinations(latest) == ["id", "label", "modifiedon"]
    assert any_harness.api.get(f"{MAPPING_SETS}/{mapping_id}", params={"version": "1"}).status_code == 404


def test_an_unknown_version_or_set_is_a_precise_404_and_a_malformed_version_a_400(any_harness: Harness) -> None:
    mapping_id = create_set(any_harness, V0)
    put_set(any_harness, mapping_id, V1)
    api = any_harness.api
    missing = api.get(f"{MAPPING_SETS}/{mapping_id}", params={"version": "7"})
    assert missing.status_code == 404 and error_code(missing) == "FLOW-1419-404"
    assert missing.json()["errorMessage"] == f"The mapping set {mapping_id} has no version 7; its versions are 0 to 1."
    malformed = api.get(f"{MAPPING_SETS}/{mapping_id}", params={"version": "latest"})
    assert malformed.status_code == 400 and error_code(malformed) == "FLOW-1419-400"
    assert "'version' must be a mapping set version" in malformed.json()["errorMessage"]
    gone = api.put(f"{MAPPING_SETS}/{'0' * 32}", json={"mappings": V1})
    assert gone.status_code == 404 and gone.json()["errorMessage"] == f"The mapping set {'0' * 32} is not found."


def test_versions_belong_to_their_tenant(any_harness: Harness) -> None:
    mapping_id = create_set(any_harness, V0)
    put_set(any_harness, mapping_id, V1)
    other = any_harness.api.as_other_client(f"OTHER{any_harness.api.org}")
    for version in ("0", "1"):
        assert other.get(f"{MAPPING_SETS}/{mapping_id}", params={"version": version}).status_code == 404
    assert other.put(f"{MAPPING_SETS}/{mapping_id}", json={"mappings": V0}).status_code == 404
    assert other.delete(f"{MAPPING_SETS}/{mapping_id}").status_code == 404
    assert any_harness.api.get(f"{MAPPING_SETS}/{mapping_id}").json()["version"] == 1


def test_a_set_a_flow_uses_is_not_deleted_and_an_unused_one_goes_with_all_its_versions(any_harness: Harness) -> None:
    any_harness.org.add_table("account", rows=3)
    flow = any_harness.flow("account", mapping=V0)
    mapping_id = mapping_params(any_harness.api.get(f"/flows/{flow.id}").json()["items"][0])["mappingId"]
    put_set(any_harness, mapping_id, V1)
    refused = any_harness.api.delete(f"{MAPPING_SETS}/{mapping_id}")
    assert refused.status_code == 400 and error_code(refused) == "FLOW-1447-400"
    assert any_harness.api.delete(f"/flows/{flow.id}").status_code == 204
    assert any_harness.api.delete(f"{MAPPING_SETS}/{mapping_id}").status_code == 204
    for version in (None, "0", "1"):
        params = {"version": version} if version else {}
        assert any_harness.api.get(f"{MAPPING_SETS}/{mapping_id}", params=params).status_code == 404
    assert any_harness.container.mapping_sets.resources.list("mappingSetVersions", any_harness.tenant) == []


# ------------------------------------------------------------------------------ flows name a version


def test_a_flow_naming_a_version_that_does_not_exist_is_a_400_on_create_and_on_patch(any_harness: Harness) -> None:
    any_harness.org.add_table("account", rows=3)
    flow = any_harness.flow("account", mapping=V0)
    before = any_harness.api.get(f"/flows/{flow.id}").json()["items"][0]
    mapping_id = mapping_params(before)["mappingId"]
    patched = patch_version(any_harness, flow, 1)
    assert patched.status_code == 400, patched.text
    assert error_code(patched) == "FLOW-1419-400"
    assert patched.json()["errorMessage"] == (
        f"transformations Mapping: params.mappingVersion names version 1 of mapping set {mapping_id}, which does "
        "not exist; its versions are 0 to 0."
    )
    malformed = patch_version(any_harness, flow, "one")
    assert malformed.status_code == 400 and "must be a mapping set version" in malformed.json()["errorMessage"]
    after = any_harness.api.get(f"/flows/{flow.id}").json()["items"][0]
    assert after["etag"] == before["etag"] and mapping_params(after)["mappingVersion"] == 0
    # a new flow's body names the version likewise
    assert any_harness.api.delete(f"/flows/{flow.id}").status_code == 204
    body = {k: before[k] for k in ("name", "flowSpec", "sourceConnectionIds", "targetConnectionIds", "scheduleParams")}
    body["transformations"] = [
        before["transformations"][0],
        {"name": "Mapping", "params": {"mappingId": mapping_id, "mappingVersion": "3"}},
    ]
    created = any_harness.api.post("/flows", json=body)
    assert created.status_code == 400 and error_code(created) == "FLOW-1419-400"
    assert "names version 3 of mapping set" in created.json()["errorMessage"]
    put_set(any_harness, mapping_id, V1)
    body["transformations"][1]["params"]["mappingVersion"] = "1"
    assert any_harness.api.post("/flows", json=body).status_code == 201


def test_a_flow_naming_no_version_is_pinned_to_the_latest(any_harness: Harness) -> None:
    any_harness.org.add_table("account", rows=3)
    flow = any_harness.flow("account", mapping=V0)
    before = any_harness.api.get(f"/flows/{flow.id}").json()["items"][0]
    mapping_id = mapping_params(before)["mappingId"]
    put_set(any_harness, mapping_id, V1)
    index = next(i for i, t in enumerate(before["transformations"]) if t["name"] == "Mapping")
    patched = any_harness.api.patch(
        f"/flows/{flow.id}",
        json=[{"op": "remove", "path": f"/transformations/{index}/params/mappingVersion"}],
        headers={"If-Match": before["etag"]},
    )
    assert patched.status_code == 200, patched.text
    after = any_harness.api.get(f"/flows/{flow.id}").json()["items"][0]
    assert mapping_params(after) == {"mappingId": mapping_id, "mappingVersion": 1}


# ------------------------------------------------------------------------------ runs apply their version


def test_editing_a_running_dataflows_mapping_applies_the_new_version_from_the_next_run(any_harness: Harness) -> None:
    """The issue's acceptance test: rows landed with version 0; PUT version 1 (another expression, another
    column), patch the flow to it; the next run's rows use version 1, the first run's batch is unchanged, and
    each run's document records the version it applied."""
    table = any_harness.org.add_table("account", rows=30)
    flow = any_harness.flow("account", mode="append", mapping=V0)
    mapping_id = mapping_params(any_harness.api.get(f"/flows/{flow.id}").json()["items"][0])["mappingId"]
    first = any_harness.run(flow)
    first_batch = first["activities"][1]["targetInfo"][0]["reference"]["ids"][0]
    landed_first = any_harness.dataset(flow)
    assert len(landed_first) == 30 and {r["label"] for r in landed_first} == {f"account {i}" for i in range(30)}

    put_set(any_harness, mapping_id, V1)
    # a PUT alone changes nothing for the flow: it stays pinned to version 0 until patched
    assert mapping_params(any_harness.api.get(f"/flows/{flow.id}").json()["items"][0])["mappingVersion"] == 0
    table.upsert(make_row(table, 90, modified=900))
    pinned = any_harness.run(flow)
    assert [r["label"] for r in any_harness.dataset(flow) if r["id"].startswith("00000090")] == ["account 90"]
    landed_first = any_harness.dataset(flow)
    patched = patch_version(any_harness, flow, 1)
    assert patched.status_code == 200, patched.text

    for n in range(100, 105):
        table.upsert(make_row(table, n, modified=1000 + n))
    second = any_harness.run(flow)
    rows = any_harness.dataset(flow)
    new_keys = {f"{n:08d}-0000-0000-0000-000000000000" for n in range(100, 105)}
    new_rows = [r for r in rows if r["id"] in new_keys]
    old_rows = [r for r in rows if r["id"] not in new_keys]
    assert (
        len(rows) == 36
        and len(new_rows) == 5
        and all(r["origin"] == "v1" and r["label"] == r["label"].upper() for r in new_rows)
    )
    assert {r["label"] for r in new_rows} == {f"ACCOUNT {n}" for n in range(100, 105)}
    # the rows of the runs before are as version 0 wrote them: no origin, labels untouched
    key = "id"
    assert sorted(old_rows, key=lambda r: r[key]) == sorted(
        [{**r, "origin": None} for r in landed_first], key=lambda r: r[key]
    )
    batch = any_harness.api.get(f"/data/foundation/catalog/batches/{first_batch}").json()[first_batch]
    assert batch["status"] == "success" and batch["recordCount"] == 30

    mapping_v0 = [{"name": "Mapping", "params": {"mappingId": mapping_id, "mappingVersion": 0}}]
    mapping_v1 = [{"name": "Mapping", "params": {"mappingId": mapping_id, "mappingVersion": 1}}]
    assert applied(any_harness.api.get(f"/runs/{first['id']}").json()["items"][0]) == mapping_v0
    assert applied(any_harness.api.get(f"/runs/{pinned['id']}").json()["items"][0]) == mapping_v0
    assert applied(second) == mapping_v1


def test_a_retried_run_keeps_the_version_it_started_with_after_a_later_put_and_patch(any_harness: Harness) -> None:
    table = any_harness.org.add_table("account", rows=60)
    flow = any_harness.flow("account", mode="append", mapping=V0)
    mapping_id = mapping_params(any_harness.api.get(f"/flows/{flow.id}").json()["items"][0])["mappingId"]
    any_harness.org.faults.fail_after_pages = 3  # one commit of 25 rows lands with version 0, then the source breaks
    failed = any_harness.run(flow, expect="failed")
    assert 0 < len(any_harness.dataset(flow)) < 60
    put_set(any_harness, mapping_id, V1)
    assert patch_version(any_harness, flow, 1).status_code == 200
    any_harness.org.faults.fail_after_pages = None
    retried = any_harness.api.post(f"/runs/{failed['id']}/action", params={"op": "re-trigger"})
    assert retried.status_code == 200, retried.text
    assert any_harness.container.worker().run_once()
    run = any_harness.api.get(f"/runs/{failed['id']}").json()["items"][0]
    assert run["metrics"]["statusSummary"]["status"] == "success"
    rows = any_harness.dataset(flow)
    assert sorted(r["id"] for r in rows) == sorted(table.rows)
    assert all(r.get("origin") is None for r in rows)  # every row of the run mapped by version 0
    assert applied(run) == [{"name": "Mapping", "params": {"mappingId": mapping_id, "mappingVersion": 0}}]
    # the flow's next run applies version 1
    table.upsert(make_row(table, 500, modified=5000))
    assert applied(any_harness.run(flow))[0]["params"]["mappingVersion"] == 1


def test_a_version_written_on_a_stale_latest_writes_nothing(any_harness: Harness) -> None:
    """The store's compare-and-swap: of two PUTs that read the same latest version, the second one's write is
    refused whole (no new latest, no second copy of the superseded version) and the service puts it on top."""
    mapping_id = create_set(any_harness, V0)
    put_set(any_harness, mapping_id, V1)
    service = any_harness.container.mapping_sets
    stale = {**service.get(any_harness.tenant, mapping_id, 0), "version": 1}
    with pytest.raises(PreconditionFailed):
        service.versions.replace(any_harness.tenant, mapping_id, stale, replaces=0)
    latest = any_harness.api.get(f"{MAPPING_SETS}/{mapping_id}").json()
    assert latest["version"] == 1 and destinations(latest) == [m["destination"] for m in V1]
    assert len(service.resources.list("mappingSetVersions", any_harness.tenant)) == 1
    assert put_set(any_harness, mapping_id, V0)["version"] == 2
