"""Draft mode (``mode=draft``, ``op=publish``) through the API, on SQLite and PostgreSQL, with the working fake
source: drafts are stored, listed, patched and deleted; they are checked for types only; they never run; and
publishing validates them as a plain create does. The last test walks Adobe's draft tutorial end to end."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID, DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID
from flowservice.services.runs import Scheduler
from flowservice.settings import Settings
from tests.fakes.source import FakeOrg, FakeSource
from tests.fixtures.server import Api, make_api, postgres_url, seed_body
from tests.integration.engine.conftest import Harness

DRAFT = {"mode": "draft"}


class RecordingOrg(FakeOrg):
    """The fake source, noting the credentials each client was opened with."""

    def __init__(self) -> None:
        super().__init__()
        self.opened_with: list[Mapping[str, Any]] = []

    def __call__(self, spec_id: str, auth_spec_name: str, params: Mapping[str, Any]) -> FakeSource:
        self.opened_with.append(dict(params))
        return super().__call__(spec_id, auth_spec_name, params)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """The engine harness (a published base connection, the fake source), on SQLite and on PostgreSQL."""
    with ExitStack() as stack:
        url = postgres_url() if request.param == "postgres" else None
        org = RecordingOrg()
        settings = Settings(data_dir=tmp_path / "data", database_url=url, commit_every_rows=25, page_size=10)
        api = make_api(settings, sources=org)
        assert api.container is not None
        stack.callback(api.container.close)
        yield Harness(api, org)


def opened_with(harness: Harness) -> list[Mapping[str, Any]]:
    assert isinstance(harness.org, RecordingOrg)
    return harness.org.opened_with


def code(response: httpx.Response) -> str:
    return str(response.json()["type"]).rsplit("/", 1)[-1]


def message(response: httpx.Response) -> str:
    return str(response.json()["errorMessage"])


def created(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"id", "etag"}
    return str(response.json()["id"])


def doc(api: Api, path: str) -> dict[str, Any]:
    response = api.get(path)
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["items"][0]
    return item


def publish(api: Api, path: str, op: str = "publish") -> httpx.Response:
    return api.post(f"{path}/action", params={"op": op})


def patch(api: Api, path: str, ops: list[dict[str, Any]]) -> httpx.Response:
    return api.patch(path, json=ops, headers={"If-Match": doc(api, path)["etag"]})


def dataset(api: Api, name: str) -> str:
    response = api.post("/data/foundation/catalog/dataSets", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()[0].rsplit("/", 1)[-1])


def source_body(base_id: str | None, table: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Accounts source",
        "data": {"format": "tabular"},
        "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
    }
    if base_id is not None:
        body["baseConnectionId"] = base_id
    if table is not None:
        body["params"] = {"tableName": table}
    return body


def target_body(dataset_id: str) -> dict[str, Any]:
    return {
        "name": "Accounts target",
        "data": {"format": "delta"},
        "params": {"dataSetId": dataset_id, "writeMode": "merge"},
        "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
    }


def flow_body(source_id: str, target_id: str, schedule: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": "Accounts flow",
        "flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID, "version": "1.0"},
        "sourceConnectionIds": [source_id],
        "targetConnectionIds": [target_id],
        "transformations": [{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}],
        "scheduleParams": schedule or {"startTime": str(int(time.time()) + 3600), "frequency": "hour", "interval": "1"},
    }


def draft_connection_body() -> dict[str, Any]:
    """The seed body without its password: complete enough for a draft, not for a connection."""
    body = seed_body()
    del body["auth"]["params"]["password"]
    return body


def published_connections(harness: Harness, table: str = "account") -> tuple[str, str]:
    api = harness.api
    if table not in harness.org.tables:
        harness.org.add_table(table, rows=1)
    source_id = created(api.post("/sourceConnections", json=source_body(harness.connection_id, table)))
    target_id = created(api.post("/targetConnections", json=target_body(dataset(api, f"{table}_{time.time_ns()}"))))
    return source_id, target_id


def test_the_specs_that_take_drafts_say_so(harness: Harness) -> None:
    api = harness.api
    for spec_id in (DYNAMICS_SPEC_ID, DATA_LAKE_SPEC_ID):
        assert doc(api, f"/connectionSpecs/{spec_id}")["attributes"]["isDraftModeSupported"] is True
    assert doc(api, f"/flowSpecs/{CRM_TO_AEP_FLOW_SPEC_ID}")["attributes"]["isDraftModeSupported"] is True


def test_a_draft_connection_is_stored_listed_read_patched_and_deleted(harness: Harness) -> None:
    api = harness.api
    draft_id = created(api.post("/connections", params=DRAFT, json=draft_connection_body()))
    item = doc(api, f"/connections/{draft_id}")
    assert item["state"] == "draft" and item["auth"]["params"]["username"] == "someone@contoso.com"
    drafts = api.get("/connections", params={"property": "state==draft"}).json()["items"]
    assert [d["id"] for d in drafts] == [draft_id]  # the harness's published connection is not one
    everything = {d["id"] for d in api.get("/connections").json()["items"]}
    assert everything == {draft_id, harness.connection_id}
    renamed = patch(api, f"/connections/{draft_id}", [{"op": "replace", "path": "/name", "value": "Later"}])
    assert renamed.status_code == 200, renamed.text
    item = doc(api, f"/connections/{draft_id}")
    assert item["name"] == "Later" and item["state"] == "draft"
    assert api.delete(f"/connections/{draft_id}").status_code == 204
    assert api.get(f"/connections/{draft_id}").status_code == 404


def test_a_draft_s_secret_params_are_sealed_as_a_connection_s(harness: Harness) -> None:
    api = harness.api
    response = api.post("/connections", params=DRAFT, json=seed_body(password="draft-Secret-99"))
    draft_id = created(response)
    read = api.get(f"/connections/{draft_id}")
    assert read.json()["items"][0]["auth"]["params"]["password"] == "********"
    assert "draft-Secret-99" not in read.text


def test_drafts_skip_the_checks_that_need_a_complete_resource(harness: Harness) -> None:
    api = harness.api
    nowhere = "00000000-0000-0000-0000-000000000000"
    bare = {"connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"}}
    created(api.post("/connections", params=DRAFT, json=bare))  # no name, no auth at all
    created(api.post("/sourceConnections", params=DRAFT, json=source_body(nowhere, "no_such_table")))
    created(api.post("/targetConnections", params=DRAFT, json=target_body("0" * 24)))
    flow = {"flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID}, "sourceConnectionIds": [nowhere]}
    flow_id = created(api.post("/flows", params=DRAFT, json=flow))
    assert doc(api, f"/flows/{flow_id}")["state"] == "draft"
    # the same bodies without mode=draft are refused for what they lack or name
    assert "password" in message(api.post("/connections", json=draft_connection_body()))
    assert "does not exist" in message(api.post("/sourceConnections", json=source_body(nowhere, "account")))
    assert "does not exist" in message(api.post("/targetConnections", json=target_body("0" * 24)))
    assert api.post("/flows", json=flow).status_code == 400


WRONG_TYPES = [
    ("/connections", {**seed_body(), "name": 42}, "'name' must be a string"),
    (
        "/connections",
        {**seed_body(), "auth": {**seed_body()["auth"], "params": {"serviceUri": 42}}},
        "auth.params.serviceUri",
    ),
    ("/connections", {"name": "no spec"}, "connectionSpec.id"),
    ("/sourceConnections", {**source_body(None, None), "params": {"tableName": 5}}, "params.tableName"),
    ("/sourceConnections", {**source_body(None, None), "baseConnectionId": 7}, "baseConnectionId"),
    ("/targetConnections", {**target_body("x"), "params": {"writeMode": "sideways"}}, "params.writeMode"),
    ("/flows", {"flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID}, "sourceConnectionIds": "x"}, "sourceConnectionIds"),
    ("/flows", {"flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID}, "transformations": ["Copy"]}, "transformations"),
    ("/flows", {"flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID}, "options": {"nope": 1}}, "Unknown options"),
    ("/flows", {"flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID}, "state": "enabled"}, "`State` is not allowed"),
]


@pytest.mark.parametrize(("path", "body", "named"), WRONG_TYPES, ids=[f"{w[0]} {w[2]}" for w in WRONG_TYPES])
def test_a_draft_with_a_field_of_the_wrong_type_is_refused_with_the_usual_body(
    harness: Harness, path: str, body: dict[str, Any], named: str
) -> None:
    response = harness.api.post(path, params=DRAFT, json=body)
    assert response.status_code == 400, response.text
    assert named in message(response)
    assert set(response.json()) >= {"type", "title", "status", "errorMessage", "report"}


@pytest.mark.parametrize("path", ["/connections", "/sourceConnections", "/targetConnections", "/flows"])
def test_a_draft_with_malformed_json_is_refused_as_a_create_is(harness: Harness, path: str) -> None:
    draft = harness.api.post(path, params=DRAFT, content=b"{nope")
    plain = harness.api.post(path, content=b"{nope")
    assert draft.status_code == plain.status_code == 400
    assert code(draft) == code(plain) and message(draft) == message(plain)


@pytest.mark.parametrize("path", ["/connections", "/sourceConnections", "/targetConnections", "/flows"])
def test_an_unknown_mode_is_refused_on_every_create(harness: Harness, path: str) -> None:
    response = harness.api.post(path, params={"mode": "final"}, json=seed_body())
    assert response.status_code == 400
    assert "Unsupported mode 'final'" in message(response) and "mode=draft" in message(response)
    assert harness.api.get(path, params={"property": "state==draft"}).json()["items"] == []


def test_the_mode_is_case_insensitive_and_sent_once(harness: Harness) -> None:
    draft_id = created(harness.api.post("/connections", params={"mode": "DRAFT"}, json=draft_connection_body()))
    assert doc(harness.api, f"/connections/{draft_id}")["state"] == "draft"
    twice = harness.api.post("/connections", params=[("mode", "draft"), ("mode", "draft")], json=seed_body())
    assert twice.status_code == 400 and "more than once" in message(twice)


def test_publishing_an_incomplete_draft_names_what_is_missing_then_publishes_it_once_complete(
    harness: Harness,
) -> None:
    api = harness.api
    draft_id = created(api.post("/connections", params=DRAFT, json=draft_connection_body()))
    refused = publish(api, f"/connections/{draft_id}")
    assert refused.status_code == 400
    assert message(refused) == "The field 'auth.params.password' is required."
    assert doc(api, f"/connections/{draft_id}")["state"] == "draft"  # nothing changed
    added = patch(api, f"/connections/{draft_id}", [{"op": "add", "path": "/auth/params/password", "value": "pw-1"}])
    assert added.status_code == 200, added.text
    published = publish(api, f"/connections/{draft_id}", op="PUBLISH")
    assert published.status_code == 200, published.text
    assert set(published.json()) == {"id", "etag"} and published.json()["id"] == draft_id
    item = doc(api, f"/connections/{draft_id}")
    assert item["state"] == "enabled" and item["etag"] == published.json()["etag"]
    assert item["auth"]["params"]["password"] == "********"
    assert api.get(f"/connections/{draft_id}/test").json() == {"result": True}
    assert opened_with(harness)[-1]["password"] == "pw-1"


def test_publishing_something_already_published_is_refused(harness: Harness) -> None:
    api = harness.api
    source_id, target_id = published_connections(harness)
    flow_id = created(api.post("/flows", json=flow_body(source_id, target_id)))
    for path in (
        f"/connections/{harness.connection_id}",
        f"/sourceConnections/{source_id}",
        f"/targetConnections/{target_id}",
        f"/flows/{flow_id}",
    ):
        response = publish(api, path)
        assert response.status_code == 400, path
        assert "is already published" in message(response) and "only a draft" in message(response)


def test_an_unknown_action_and_an_unknown_id_are_refused(harness: Harness) -> None:
    api = harness.api
    draft_id = created(api.post("/sourceConnections", params=DRAFT, json=source_body(None, None)))
    unknown = publish(api, f"/sourceConnections/{draft_id}", op="launch")
    assert unknown.status_code == 400 and code(unknown) == "FLOW-1434-400" and "op=publish" in message(unknown)
    missing = publish(api, "/targetConnections/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404


def test_a_patch_cannot_publish_a_draft_by_writing_its_state(harness: Harness) -> None:
    api = harness.api
    draft_id = created(api.post("/targetConnections", params=DRAFT, json=target_body("0" * 24)))
    response = patch(api, f"/targetConnections/{draft_id}", [{"op": "replace", "path": "/state", "value": "enabled"}])
    assert response.status_code == 400
    assert f"POST /targetConnections/{draft_id}/action?op=publish" in message(response)
    assert doc(api, f"/targetConnections/{draft_id}")["state"] == "draft"


def test_a_draft_patch_is_checked_for_types_and_a_published_patch_fully(harness: Harness) -> None:
    api = harness.api
    draft_id = created(api.post("/sourceConnections", params=DRAFT, json=source_body(None, None)))
    wrong = patch(api, f"/sourceConnections/{draft_id}", [{"op": "add", "path": "/params", "value": {"tableName": 1}}])
    assert wrong.status_code == 400 and "params.tableName" in message(wrong)
    later = patch(
        api,
        f"/sourceConnections/{draft_id}",
        [
            {"op": "add", "path": "/baseConnectionId", "value": harness.connection_id},
            {"op": "add", "path": "/params", "value": {"tableName": "not_yet"}},
        ],
    )
    assert later.status_code == 200, later.text  # the table need not exist in a draft
    refused = publish(api, f"/sourceConnections/{draft_id}")
    assert refused.status_code == 400 and "'not_yet' does not exist" in message(refused)


def test_a_complete_resource_naming_a_draft_is_refused_with_what_to_publish(harness: Harness) -> None:
    api = harness.api
    harness.org.add_table("account", rows=1)
    base_id = created(api.post("/connections", params=DRAFT, json=seed_body()))
    response = api.post("/sourceConnections", json=source_body(base_id, "account"))
    assert response.status_code == 400
    assert message(response) == (
        f"The connections resource {base_id} named in 'baseConnectionId' is a draft; publish it first "
        f"(POST /connections/{base_id}/action?op=publish)."
    )
    explore = api.get(f"/connections/{base_id}/explore", params={"objectType": "root"})
    assert explore.status_code == 400 and "is a draft" in message(explore)


def test_publishing_a_flow_whose_source_connection_is_still_a_draft_is_refused(harness: Harness) -> None:
    api = harness.api
    harness.org.add_table("account", rows=3)
    source_id = created(
        api.post("/sourceConnections", params=DRAFT, json=source_body(harness.connection_id, "account"))
    )
    _, target_id = published_connections(harness)
    flow_id = created(api.post("/flows", params=DRAFT, json=flow_body(source_id, target_id)))
    response = publish(api, f"/flows/{flow_id}")
    assert response.status_code == 400 and code(response) == "FLOW-1422-400"
    assert message(response) == (
        f"The sourceConnections resource {source_id} named in 'sourceConnectionIds' is a draft; publish it first "
        f"(POST /sourceConnections/{source_id}/action?op=publish)."
    )
    assert doc(api, f"/flows/{flow_id}")["state"] == "draft"
    plain = api.post("/flows", json=flow_body(source_id, target_id))  # nor may a plain create name it
    assert plain.status_code == 400 and message(plain) == message(response)


def test_a_draft_flow_never_runs_and_its_schedule_starts_when_it_is_published(harness: Harness) -> None:
    api = harness.api
    harness.org.add_table("account", rows=3)
    source_id, target_id = published_connections(harness)
    start = int(time.time()) - 2 * 3600 - 60  # two hourly windows have ended
    schedule = {"startTime": start, "frequency": "hour", "interval": 1, "backfill": False}
    flow_id = created(api.post("/flows", params=DRAFT, json=flow_body(source_id, target_id, schedule)))
    scheduler = Scheduler(harness.container.scheduler.schedules, harness.container.queue, max_catch_up=10)
    assert scheduler.tick() == 0
    run = api.post("/runs", json={"flowId": flow_id})
    assert run.status_code == 400 and code(run) == "FLOW-1422-400"
    assert message(run) == (
        f"The flow {flow_id} is a draft: a draft never runs. Publish it (POST /flows/{flow_id}/action?op=publish) "
        "before running it."
    )
    for op in ("enable", "disable"):
        refused = api.post(f"/flows/{flow_id}/action", params={"op": op})
        assert refused.status_code == 400 and code(refused) == "FLOW-1422-400"
        assert f"The action {op} cannot be applied on the current state draft" in message(refused)
    assert api.get("/runs", params={"property": f"flowId=={flow_id}"}).json()["items"] == []
    published = publish(api, f"/flows/{flow_id}", op="Publish")
    assert published.status_code == 200, published.text
    item = doc(api, f"/flows/{flow_id}")
    assert item["state"] == "enabled" and item["lastOperation"]["operation"] == "publish"
    assert item["inheritedAttributes"]["sourceConnections"][0]["id"] == source_id
    assert scheduler.tick() == 2  # a published flow is scheduled as a plain one


def test_publishing_a_flow_runs_the_create_s_validation(harness: Harness) -> None:
    api = harness.api
    harness.org.add_table("account", rows=1)
    source_id, target_id = published_connections(harness)
    body = flow_body(source_id, target_id)
    body["transformations"] = [{"name": "Copy", "params": {"deltaColumn": {"name": "nope"}}}]
    flow_id = created(api.post("/flows", params=DRAFT, json=body))
    refused = publish(api, f"/flows/{flow_id}")
    plain = api.post("/flows", json=body)
    assert refused.status_code == plain.status_code == 400
    assert code(refused) == code(plain) == "FLOW-1419-400" and message(refused) == message(plain)
    unnamed = patch(api, f"/flows/{flow_id}", [{"op": "remove", "path": "/name"}])
    assert unnamed.status_code == 200, unnamed.text
    assert "'name' is required" in message(publish(api, f"/flows/{flow_id}"))


def test_adobe_s_draft_tutorial_end_to_end_lands_rows(harness: Harness) -> None:
    """Draft base connection → draft source and target connections → draft flow → publish each, in dependency
    order → the flow runs and lands the table's rows."""
    api = harness.api
    harness.org.add_table("account", rows=7)
    for spec in (f"/connectionSpecs/{DYNAMICS_SPEC_ID}", f"/flowSpecs/{CRM_TO_AEP_FLOW_SPEC_ID}"):
        assert doc(api, spec)["attributes"]["isDraftModeSupported"] is True
    base_id = created(api.post("/connections", params=DRAFT, json=draft_connection_body()))
    source_id = created(api.post("/sourceConnections", params=DRAFT, json=source_body(base_id, "account")))
    dataset_id = dataset(api, "tutorial_accounts")
    target_id = created(api.post("/targetConnections", params=DRAFT, json=target_body(dataset_id)))
    flow_id = created(api.post("/flows", params=DRAFT, json=flow_body(source_id, target_id)))
    for kind in ("connections", "sourceConnections", "targetConnections", "flows"):
        states = [d["state"] for d in api.get(f"/{kind}", params={"property": "state==draft"}).json()["items"]]
        assert states == ["draft"], kind
    # publishing out of order is refused, naming the draft it depends on
    assert f"sourceConnections resource {source_id}" in message(publish(api, f"/flows/{flow_id}"))
    assert f"connections resource {base_id}" in message(publish(api, f"/sourceConnections/{source_id}"))
    password = [{"op": "add", "path": "/auth/params/password", "value": "tutorial-pw"}]
    assert patch(api, f"/connections/{base_id}", password).status_code == 200
    for path in (
        f"/connections/{base_id}",
        f"/sourceConnections/{source_id}",
        f"/targetConnections/{target_id}",
        f"/flows/{flow_id}",
    ):
        response = publish(api, path)
        assert response.status_code == 200, (path, response.text)
        assert doc(api, path)["state"] == "enabled"
    assert doc(api, f"/sourceConnections/{source_id}")["params"]["primaryKey"] == "accountid"
    run = api.post("/runs", json={"flowId": flow_id})
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]
    assert harness.container.worker().run_once()
    finished = doc(api, f"/runs/{run_id}")
    assert finished["metrics"]["statusSummary"]["status"] == "success", finished["metrics"]["statusSummary"]
    path = harness.container.catalog.dataset(harness.tenant, dataset_id).doc["lake"]["path"]
    assert harness.container.lake.read(path).num_rows == 7
    assert opened_with(harness)[-1]["password"] == "tutorial-pw"
