"""What a flow reads and writes cannot change under its cursor or its dataset: one writer per dataset, a
table kept while its rows are landed, and a cursor bound to the org, table and columns it was taken from."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from flowservice.domain.catalogue import DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID
from flowservice.settings import Settings
from tests.fakes.source import FakeOrg, FakeSource, make_row
from tests.fixtures.server import make_api, seed_body
from tests.integration.engine.conftest import Harness

ORG_A, ORG_B = "https://a.crm.dynamics.com", "https://b.crm.dynamics.com"


class Orgs:
    """A source factory with one fake org per ``serviceUri``."""

    def __init__(self) -> None:
        self.by_uri = {ORG_A: FakeOrg(), ORG_B: FakeOrg()}

    def __call__(self, spec_id: str, auth_spec_name: str, params: Mapping[str, Any]) -> FakeSource:
        return FakeSource(self.by_uri[str(params["serviceUri"]).rstrip("/")])


@pytest.fixture
def orgs(tmp_path: Path) -> Iterator[tuple[Harness, Orgs]]:
    sources = Orgs()
    api = make_api(Settings(data_dir=tmp_path / "data", commit_every_rows=25, page_size=10), sources=sources)
    created = api.post("/connections", json=seed_body(ORG_A))
    assert created.status_code == 201, created.text
    assert api.container is not None
    harness = Harness.__new__(Harness)
    harness.api, harness.org, harness.container = api, sources.by_uri[ORG_A], api.container
    harness.connection_id = created.json()["id"]
    yield harness, sources
    assert api.container is not None
    api.container.close()


def patch(harness: Harness, path: str, ops: list[dict[str, Any]]) -> Any:
    etag = harness.api.get(path).json()["items"][0]["etag"]
    return harness.api.patch(path, json=ops, headers={"If-Match": etag})


def flow_doc(harness: Harness, flow_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = harness.api.get(f"/flows/{flow_id}").json()["items"][0]
    return doc


def source_connection(harness: Harness, table: str, base_id: str | None = None, **params: Any) -> str:
    created = harness.api.post(
        "/sourceConnections",
        json={
            "name": f"{table} source",
            "baseConnectionId": base_id or harness.connection_id,
            "data": {"format": "tabular"},
            "params": {"tableName": table, **params},
            "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def target_connection(harness: Harness, dataset_id: str) -> str:
    created = harness.api.post(
        "/targetConnections",
        json={
            "name": "lake",
            "data": {"format": "delta"},
            "params": {"dataSetId": dataset_id, "writeMode": "merge"},
            "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def error(response: Any) -> str:
    assert response.status_code == 400, response.text
    return str(response.json()["errorMessage"])


# ------------------------------------------------------------------------------------ item 1: one writer


def test_a_resync_of_one_flow_keeps_rows_written_by_another(harness: Harness) -> None:
    """Refusal equivalent: a second flow into a dataset is refused (at creation and by PATCH), so no
    resync of one flow can ever delete the rows another wrote."""
    harness.org.add_table("account", rows=30)
    first = harness.flow("account")
    body = harness.api.get(f"/flows/{first.id}").json()["items"][0]
    second_target = target_connection(harness, first.dataset_id)
    second = {k: body[k] for k in ("name", "flowSpec", "transformations", "scheduleParams")}
    second.update(sourceConnectionIds=[source_connection(harness, "account")], targetConnectionIds=[second_target])
    refused = harness.api.post("/flows", json=second)
    assert f"already the target of flow {first.id}" in error(refused)

    other = harness.flow("account")  # its own dataset: accepted
    moved = patch(
        harness, f"/flows/{other.id}", [{"op": "replace", "path": "/targetConnectionIds/0", "value": second_target}]
    )
    assert f"already the target of flow {first.id}" in error(moved)
    other_target = flow_doc(harness, other.id)["targetConnectionIds"][0]
    repointed = patch(
        harness,
        f"/targetConnections/{other_target}",
        [{"op": "replace", "path": "/params/dataSetId", "value": first.dataset_id}],
    )
    assert "used by a flow cannot change" in error(repointed)
    renamed = patch(harness, f"/flows/{first.id}", [{"op": "replace", "path": "/name", "value": "still mine"}])
    assert renamed.status_code == 200, renamed.text  # a flow is not a second writer of its own dataset

    harness.run(first)
    harness.org.faults.expire_delta_token = True
    harness.run(first)
    assert len(harness.dataset(first)) == 30


# ------------------------------------------------------------------------- item 2: cursor and its source


def test_the_table_of_a_source_connection_in_use_cannot_change(harness: Harness) -> None:
    harness.org.add_table("account", rows=20)
    harness.org.add_table("contact", rows=40)
    flow = harness.flow("account")
    harness.run(flow)
    source_id = flow_doc(harness, flow.id)["sourceConnectionIds"][0]
    refused = patch(
        harness, f"/sourceConnections/{source_id}", [{"op": "replace", "path": "/params/tableName", "value": "contact"}]
    )
    assert f"cannot change while flow {flow.id} uses it" in error(refused)
    assert len(harness.dataset(flow)) == 20


def test_a_flow_whose_dataset_holds_rows_cannot_switch_to_a_source_of_another_table(harness: Harness) -> None:
    harness.org.add_table("account", rows=20)
    harness.org.add_table("contact", rows=40)
    flow = harness.flow("account")
    contacts = source_connection(harness, "contact")
    harness.run(flow)
    refused = patch(
        harness, f"/flows/{flow.id}", [{"op": "replace", "path": "/sourceConnectionIds/0", "value": contacts}]
    )
    assert "holds rows of table 'account'" in error(refused)

    unrun = harness.flow("account")  # no rows landed yet: switching tables mixes nothing
    switched = patch(
        harness, f"/flows/{unrun.id}", [{"op": "replace", "path": "/sourceConnectionIds/0", "value": contacts}]
    )
    assert switched.status_code == 200, switched.text
    harness.run(unrun)
    assert len(harness.dataset(unrun)) == 40


def test_a_cursor_of_another_org_is_not_resumed_after_the_service_uri_changes(orgs: tuple[Harness, Orgs]) -> None:
    harness, sources = orgs
    old = sources.by_uri[ORG_A].add_table("account", rows=30)
    new = sources.by_uri[ORG_B].add_table("account", rows=0)
    for i in range(100, 145):
        new.upsert(make_row(new, i, modified=i))
    flow = harness.flow("account")
    harness.run(flow)
    assert len(harness.dataset(flow)) == len(old.rows)
    moved = patch(
        harness,
        f"/connections/{harness.connection_id}",
        [{"op": "replace", "path": "/auth/params/serviceUri", "value": ORG_B + "/"}],
    )
    assert moved.status_code == 200, moved.text
    run = harness.run(flow)
    assert {r["accountid"] for r in harness.dataset(flow)} == set(new.rows)
    assert run["metrics"]["recordSummary"]["inputRecordCount"] == 45
    notes = run["metrics"]["statusSummary"]["errors"]
    assert [n["code"] for n in notes] == ["CONNECTOR-3002-200"] and "org" in notes[0]["message"]
    again = harness.run(flow)  # the new cursor is the new org's: incremental again, no note
    assert again["metrics"]["recordSummary"]["inputRecordCount"] == 0
    assert again["metrics"]["statusSummary"]["errors"] == []


def test_a_flow_switched_to_a_source_of_another_org_reads_it_in_full(orgs: tuple[Harness, Orgs]) -> None:
    harness, sources = orgs
    sources.by_uri[ORG_A].add_table("account", rows=30)
    new = sources.by_uri[ORG_B].add_table("account", rows=12)
    flow = harness.flow("account")
    harness.run(flow)
    other_base = harness.api.post("/connections", json=seed_body(ORG_B)).json()["id"]
    switched = patch(
        harness,
        f"/flows/{flow.id}",
        [
            {
                "op": "replace",
                "path": "/sourceConnectionIds/0",
                "value": source_connection(harness, "account", other_base),
            }
        ],
    )
    assert switched.status_code == 200, switched.text
    run = harness.run(flow)
    assert {r["accountid"]: r for r in harness.dataset(flow)} == new.rows
    assert run["metrics"]["statusSummary"]["errors"][0]["code"] == "CONNECTOR-3002-200"


def test_new_columns_of_a_source_connection_are_read_for_every_row(harness: Harness) -> None:
    table = harness.org.add_table("account", rows=30)
    source_id = source_connection(harness, "account", columns=["name"])
    flow = harness.flow("account")
    assert (
        patch(
            harness, f"/flows/{flow.id}", [{"op": "replace", "path": "/sourceConnectionIds/0", "value": source_id}]
        ).status_code
        == 200
    )
    harness.run(flow)
    assert all(r.get("revenue") is None for r in harness.dataset(flow))
    widened = patch(
        harness,
        f"/sourceConnections/{source_id}",
        [{"op": "replace", "path": "/params/columns", "value": ["name", "revenue"]}],
    )
    assert widened.status_code == 200, widened.text
    run = harness.run(flow)
    assert {r["accountid"]: r["revenue"] for r in harness.dataset(flow)} == {
        k: r["revenue"] for k, r in table.rows.items()
    }
    assert run["metrics"]["statusSummary"]["errors"][0]["code"] == "CONNECTOR-3002-200"


def test_a_cursor_committed_before_identities_existed_is_resumed(harness: Harness) -> None:
    table = harness.org.add_table("account", rows=30)
    flow = harness.flow("account")
    harness.run(flow)
    lake = harness.container.lake
    path = harness.container.catalog.dataset(harness.tenant, flow.dataset_id).doc["lake"]["path"]
    last = lake.last_commit(path, flow.id)
    assert last is not None and "identity" in last.cursor
    legacy = {k: v for k, v in last.cursor.items() if k not in ("identity", "resync")}
    lake.commit(
        path,
        harness.container.lake.read(path).slice(0, 0),
        mode="merge",
        primary_key="accountid",
        deleted_keys=[],
        app_id=flow.id,
        txn_version=last.txn_version + 1,
        cursor=legacy,
    )
    table.upsert(make_row(table, 77, modified=700))
    run = harness.run(flow)
    assert run["metrics"]["recordSummary"]["inputRecordCount"] == 1
    assert run["metrics"]["statusSummary"]["errors"] == []
