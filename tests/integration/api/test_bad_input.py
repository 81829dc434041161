"""Input a tenant can send gets a 400 with a precise message, never a 500 and never an echo of a secret; every
error carries the request id. Real SQLite and PostgreSQL, the working fake source behind the connections."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID, DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID
from flowservice.domain.expressions import MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_LENGTH, MAX_NUMBER_LENGTH
from flowservice.services.runs import Scheduler
from flowservice.settings import Settings
from tests.fakes.source import FakeOrg
from tests.fixtures.server import BASE, Api, make_api, postgres_url, seed_body
from tests.integration.engine.conftest import Harness

MAPPING_SETS = "/data/foundation/conversion/mappingSets"


def code(response: Any) -> str:
    return str(response.json()["type"].rsplit("/", 1)[-1])


def message(response: Any) -> str:
    return str(response.json()["errorMessage"])


def _harness(tmp_path: Path, database_url: str | None) -> Iterator[Harness]:
    org = FakeOrg()
    api = make_api(
        Settings(data_dir=tmp_path / "data", database_url=database_url, commit_every_rows=25, page_size=10), sources=org
    )
    yield Harness(api, org)
    assert api.container is not None
    api.container.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """The API over the fake source, on SQLite."""
    yield from _harness(tmp_path, None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """The same on SQLite and on PostgreSQL. The PostgreSQL database is shared by the whole suite: a test
    there leaves no claimable run behind (another test's worker would take it)."""
    yield from _harness(tmp_path, postgres_url() if request.param == "postgres" else None)


def flow_body(harness: Harness, table: str, connection_id: str | None = None) -> dict[str, Any]:
    """A complete flow request over fresh source and target connections, without scheduleParams."""
    api = harness.api
    source = api.post(
        "/sourceConnections",
        json={
            "name": f"{table} source",
            "baseConnectionId": connection_id or harness.connection_id,
            "data": {"format": "tabular"},
            "params": {"tableName": table},
            "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
        },
    )
    assert source.status_code == 201, source.text
    dataset = api.post("/data/foundation/catalog/dataSets", json={"name": f"{table}_{time.monotonic_ns()}"})
    assert dataset.status_code == 201, dataset.text
    target = api.post(
        "/targetConnections",
        json={
            "name": "lake",
            "data": {"format": "delta"},
            "params": {"dataSetId": dataset.json()[0].split("/")[-1], "writeMode": "merge"},
            "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
        },
    )
    assert target.status_code == 201, target.text
    return {
        "name": f"{table} flow",
        "flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID, "version": "1.0"},
        "sourceConnectionIds": [source.json()["id"]],
        "targetConnectionIds": [target.json()["id"]],
        "transformations": [{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}],
    }


def disable_connection(api: Api, connection_id: str, state: str = "disabled") -> None:
    etag = api.get(f"/connections/{connection_id}").json()["items"][0]["etag"]
    patched = api.patch(
        f"/connections/{connection_id}",
        json=[{"op": "replace", "path": "/state", "value": state}],
        headers={"If-Match": etag},
    )
    assert patched.status_code == 200, patched.text


# ------------------------------------------------------------------------------ item 14: expressions


@pytest.mark.parametrize(
    ("case", "source", "limit"),
    [
        ("nested parentheses", "(" * 3000 + "name" + ")" * 3000, f"deeper than {MAX_EXPRESSION_DEPTH} levels"),
        ("a run of negations", "!" * 5000 + "name", f"deeper than {MAX_EXPRESSION_DEPTH} levels"),
        ("a 5,000-digit number", "1" * 5000, f"longer than {MAX_NUMBER_LENGTH} characters"),
        ("a 3,000-term || chain", " || ".join(["name"] * 3000), f"longer than {MAX_EXPRESSION_LENGTH} characters"),
        ("a 200-term || chain", "||".join(["a"] * 200), f"deeper than {MAX_EXPRESSION_DEPTH} levels"),
    ],
)
def test_a_huge_or_deep_expression_is_refused_at_mapping_set_creation_naming_the_limit(
    api: Api, case: str, source: str, limit: str
) -> None:
    response = api.post(
        MAPPING_SETS, json={"mappings": [{"sourceType": "EXPRESSION", "source": source, "destination": "label"}]}
    )
    assert response.status_code == 400, case
    assert code(response) == "FLOW-1419-400"
    assert limit in message(response)
    assert len(message(response)) < 300  # an excerpt, not the expression
    assert response.json()["report"]["request-id"] == response.headers["x-request-id"]


# ---------------------------------------------------------------------------------- item 15: secrets

SECRET = "hunter2-UNIQUE-5f3a"


@pytest.mark.parametrize(
    "value",
    [987654321, 12.5, {"secret": SECRET}, [SECRET], True],
    ids=["a number", "a float", "an object", "an array", "a boolean"],
)
def test_a_secret_of_the_wrong_type_is_named_never_quoted(api: Api, value: Any) -> None:
    body = seed_body()
    body["auth"]["params"]["password"] = value
    created = api.post("/connections", json=body)
    assert created.status_code == 400
    assert "'auth.params.password'" in message(created) and "must be of type string" in message(created)
    assert SECRET not in created.text and str(value) not in created.text

    good = api.post("/connections", json=seed_body()).json()
    for ops in (
        [{"op": "replace", "path": "/auth/params/password", "value": value}],
        [{"op": "replace", "path": "/auth/params", "value": {**seed_body()["auth"]["params"], "password": value}}],
    ):
        patched = api.patch(f"/connections/{good['id']}", json=ops, headers={"If-Match": good["etag"]})
        assert patched.status_code == 400
        assert "'auth.params.password'" in message(patched)
        assert SECRET not in patched.text and str(value) not in patched.text


def test_a_service_principal_key_of_the_wrong_type_is_named_never_quoted(api: Api) -> None:
    body = {
        **seed_body(),
        "auth": {
            "specName": "Service Principal Key Based Authentication",
            "params": {
                "serviceUri": "https://example.crm.dynamics.com",
                "servicePrincipalId": "app",
                "servicePrincipalKey": {"value": SECRET},
            },
        },
    }
    created = api.post("/connections", json=body)
    assert created.status_code == 400
    assert "'auth.params.servicePrincipalKey'" in message(created)
    assert SECRET not in created.text


@pytest.mark.parametrize(
    "auth", ["not an object", {"specName": "Basic Authentication for Dynamics-Online", "params": ["a", SECRET]}]
)
def test_a_patched_auth_that_is_not_an_object_is_a_400_not_a_500(api: Api, auth: Any) -> None:
    good = api.post("/connections", json=seed_body()).json()
    patched = api.patch(
        f"/connections/{good['id']}",
        json=[{"op": "replace", "path": "/auth", "value": auth}],
        headers={"If-Match": good["etag"]},
    )
    assert patched.status_code == 400, patched.text
    assert "'auth'" in message(patched) and SECRET not in patched.text


def test_source_and_target_params_of_the_wrong_type_are_named_never_quoted(api: Api) -> None:
    base = api.post("/connections", json=seed_body()).json()
    source = api.post(
        "/sourceConnections",
        json={
            "name": "s",
            "baseConnectionId": base["id"],
            "params": {"tableName": {"x": SECRET}},
            "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
        },
    )
    assert source.status_code == 400
    assert "'params.tableName'" in message(source) and SECRET not in source.text
    enum = api.post(
        "/sourceConnections",
        json={
            "name": "s",
            "baseConnectionId": base["id"],
            "params": {"tableName": "account", "entityType": SECRET},
            "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
        },
    )
    assert enum.status_code == 400
    assert "'params.entityType'" in message(enum) and '"table", "view"' in message(enum)
    assert SECRET not in enum.text
    target = api.post(
        "/targetConnections",
        json={
            "name": "t",
            "params": {"dataSetId": [SECRET]},
            "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
        },
    )
    assert target.status_code == 400
    assert "'params.dataSetId'" in message(target) and SECRET not in target.text


# ------------------------------------------------------------------------ fields of the wrong shape


@pytest.mark.parametrize("collection", ["/sourceConnections", "/targetConnections"])
def test_a_connection_spec_that_is_not_an_object_is_a_400_not_a_500(api: Api, collection: str) -> None:
    response = api.post(collection, json={"name": "x", "connectionSpec": DYNAMICS_SPEC_ID})
    assert response.status_code == 400, response.text
    assert code(response) == "FLOW-1413-400" and "'connectionSpec' must be an object" in message(response)


@pytest.mark.parametrize("mapping_id", [{"id": "x"}, ["x"], 7])
def test_a_mapping_id_that_is_not_a_string_is_a_400_not_a_500(harness: Harness, mapping_id: Any) -> None:
    harness.org.add_table("account", rows=1)
    body = flow_body(harness, "account")
    body["transformations"].append({"name": "Mapping", "params": {"mappingId": mapping_id, "mappingVersion": 0}})
    response = harness.api.post("/flows", json=body)
    assert response.status_code == 400, response.text
    assert code(response) == "FLOW-1419-400" and "mappingId" in message(response)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"windowStartTime": 1651585991, "windowEndTime": 1651584991}, "windowStartTime must be before windowEndTime"),
        ({"windowStartTime": 10**40, "windowEndTime": 10**41}, "between 0 and 253402300799 seconds"),
        ({"windowStartTime": "soon", "windowEndTime": 1}, "Invalid epoch time 'soon'"),
        ({"windowStartTime": "9" * 5000, "windowEndTime": 1}, "Invalid epoch time '9999"),
    ],
)
def test_on_demand_run_windows_are_checked(harness: Harness, params: dict[str, Any], expected: str) -> None:
    harness.org.add_table("account", rows=1)
    flow = harness.flow("account")
    response = harness.api.post("/runs", json={"flowId": flow.id, "params": params})
    assert response.status_code == 400, response.text
    assert expected in message(response) and len(message(response)) < 200


@pytest.mark.parametrize(
    ("value", "shown"), [("yes", '"yes"'), ("true", '"true"'), (1, "1"), (None, "null"), ({"on": True}, '{"on": true}')]
)
def test_an_on_demand_run_whose_full_refresh_is_not_a_boolean_is_a_400_naming_the_value(
    harness: Harness, value: Any, shown: str
) -> None:
    harness.org.add_table("account", rows=1)
    flow = harness.flow("account")
    response = harness.api.post("/runs", json={"flowId": flow.id, "params": {"fullRefresh": value}})
    assert response.status_code == 400, response.text
    assert message(response) == f"The run param 'fullRefresh' must be true or false; got {shown}."
    assert harness.api.get("/runs", params={"property": f"flowId=={flow.id}"}).json()["items"] == []  # none queued


# ------------------------------------------------------------------------------ item 16: paging bounds


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"start": "-1"}, "'start' must be an integer between 0 and 2147483647; got -1"),
        ({"start": "abc"}, "'start' must be an integer between 0 and 2147483647; got 'abc'"),
        ({"start": "9" * 30}, "'start' must be an integer between 0 and 2147483647"),
        ({"start": "99999999999"}, "'start' must be an integer between 0 and 2147483647; got 99999999999"),
        ({"start": "1.5"}, "'start' must be an integer"),
        ({"limit": "0"}, "'limit' must be an integer between 1 and 1000; got 0"),
        ({"limit": "-5"}, "'limit' must be an integer between 1 and 1000; got -5"),
        ({"limit": "1001"}, "'limit' must be an integer between 1 and 1000; got 1001"),
        ({"limit": ""}, "'limit' must be an integer between 1 and 1000; got ''"),
    ],
)
def test_run_errors_refuse_paging_out_of_bounds_with_a_precise_400(
    any_harness: Harness, query: dict[str, str], expected: str
) -> None:
    harness = any_harness
    harness.org.add_table("account", rows=6)
    flow_id = harness.flow("account").id
    created = harness.api.post("/runs", json={"flowId": flow_id})
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    harness.container.queue.cancel_flow(flow_id)  # never executed: nothing is left for a worker of another test
    response = harness.api.get(f"/runs/{run_id}/errors", params=query)
    assert response.status_code == 400, response.text
    assert expected in message(response)
    page = harness.api.get(f"/runs/{run_id}/errors", params={"start": "0", "limit": "1000"})
    assert page.status_code == 200 and page.json()["runId"] == run_id


# --------------------------------------------------------------------------- item 17: the request id


def test_an_unexpected_error_in_a_fastapi_route_keeps_the_request_id(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    assert api.container is not None

    def boom(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("internal detail /lake/secret-path")

    monkeypatch.setattr(api.container.runs, "list", boom)
    monkeypatch.setattr(api.container.runs, "create", boom)
    for response in (api.get("/runs"), api.post("/runs", json={"flowId": "x"})):  # an async and a sync route
        assert response.status_code == 500
        assert response.headers["x-request-id"]
        assert response.json()["report"]["request-id"] == response.headers["x-request-id"]
        assert "secret-path" not in response.text
    traced = api.get("/runs", headers={"x-request-id": "trace-500"})
    assert traced.headers["x-request-id"] == "trace-500"
    assert traced.json()["report"]["request-id"] == "trace-500"


def test_an_unexpected_error_in_the_lane_keeps_the_request_id(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    assert api.container is not None
    created = api.post("/connections", json=seed_body()).json()

    def boom(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("internal detail")

    monkeypatch.setattr(api.container.connections, "get", boom)
    response = api.get(f"/connections/{created['id']}", headers={"x-request-id": "lane-500"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "lane-500"
    assert response.json()["report"]["request-id"] == "lane-500"


@pytest.mark.parametrize("incoming", ["x" * 65, "two words", 'quote"d', "<script>", "é-accent"])
def test_an_insane_caller_request_id_is_replaced_by_a_generated_one(api: Api, incoming: str) -> None:
    for path in ("/connections", "/connections/nope"):  # FastAPI and the lane
        response = api.get(path, headers={"x-request-id": incoming.encode("utf-8")})
        rid = response.headers["x-request-id"]
        assert rid != incoming and len(rid) == 32 and int(rid, 16) >= 0
        if response.status_code >= 400:
            assert response.json()["report"]["request-id"] == rid


# --------------------------------------------------------------------- item 18: repeated identity headers


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "x-gw-ims-org-id", "x-sandbox-name"])
def test_a_repeated_identity_header_is_refused_on_fastapi_routes(api: Api, header: str) -> None:
    headers = list(api.headers().items())
    value = dict(headers)[header]
    for method, path in (("GET", "/connections"), ("GET", "/runs"), ("POST", "/runs")):
        response = api.http.request(method, BASE + path, headers=[*headers, (header, value)], json={})
        assert response.status_code == 400, (method, path, response.text)
        assert f"'{header.lower()}' is sent more than once" in message(response)


# ----------------------------------------------------------------- item 20: schedules and disabled states


def test_a_flow_without_schedule_params_runs_once_from_its_creation(harness: Harness) -> None:
    harness.org.add_table("account", rows=3)
    before = int(time.time())
    for body in (flow_body(harness, "account"), {**flow_body(harness, "account"), "scheduleParams": {}}):
        created = harness.api.post("/flows", json=body)
        assert created.status_code == 201, created.text
        schedule = harness.api.get(f"/flows/{created.json()['id']}").json()["items"][0]["scheduleParams"]
        assert schedule["frequency"] == "once" and before <= int(schedule["startTime"]) <= int(time.time())
    scheduler = Scheduler(harness.container.scheduler.schedules, harness.container.queue)
    assert scheduler.tick() == 2
    assert scheduler.tick() == 0  # once means once


def test_a_disabled_base_connection_cannot_be_used_until_it_is_enabled(harness: Harness) -> None:
    harness.org.add_table("account", rows=3)
    flow = harness.flow("account")
    body = flow_body(harness, "account")
    disable_connection(harness.api, harness.connection_id)
    api = harness.api

    refused = [
        api.post(
            "/sourceConnections",
            json={
                "name": "s",
                "baseConnectionId": harness.connection_id,
                "params": {"tableName": "account"},
                "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
            },
        ),
        api.post("/flows", json=body),
        api.post("/runs", json={"flowId": flow.id}),
        api.get(f"/connections/{harness.connection_id}/explore", params={"objectType": "root"}),
    ]
    for response in refused:
        assert response.status_code == 400, response.text
        assert code(response) == "FLOW-1422-400"
        assert f"base connection {harness.connection_id} is disabled" in message(response)

    disable_connection(api, harness.connection_id, "enabled")
    assert api.post("/flows", json=body).status_code == 201
    harness.run(flow)


def test_a_run_queued_before_its_connection_was_disabled_fails_saying_so(harness: Harness) -> None:
    harness.org.add_table("account", rows=3)
    flow = harness.flow("account")
    created = harness.api.post("/runs", json={"flowId": flow.id})
    assert created.status_code == 201
    disable_connection(harness.api, harness.connection_id)
    assert harness.container.worker().run_once()
    run = harness.api.get(f"/runs/{created.json()['id']}").json()["items"][0]
    assert run["metrics"]["statusSummary"]["status"] == "failed"
    assert "is disabled" in run["metrics"]["statusSummary"]["errors"][0]["message"]
    assert run["metrics"]["recordSummary"]["outputRecordCount"] == 0


def test_an_on_demand_run_of_a_disabled_flow_is_refused(harness: Harness) -> None:
    harness.org.add_table("account", rows=3)
    flow = harness.flow("account")
    assert harness.api.post(f"/flows/{flow.id}/action", params={"op": "disable"}).status_code == 200
    refused = harness.api.post("/runs", json={"flowId": flow.id})
    assert refused.status_code == 400
    assert code(refused) == "FLOW-1422-400"
    assert f"flow {flow.id} is disabled" in message(refused)
    assert harness.api.get("/runs", params={"property": f"flowId=={flow.id}"}).json()["items"] == []
    assert harness.api.post(f"/flows/{flow.id}/action", params={"op": "enable"}).status_code == 200
    harness.run(flow)


def test_a_failed_run_of_a_disabled_flow_cannot_be_retriggered(harness: Harness) -> None:
    harness.org.add_table("account", rows=3)
    flow = harness.flow("account")
    harness.org.faults.fail_after_pages = 0
    run = harness.run(flow, expect="failed")
    harness.org.faults.fail_after_pages = None
    assert harness.api.post(f"/flows/{flow.id}/action", params={"op": "disable"}).status_code == 200
    refused = harness.api.post(f"/runs/{run['id']}/action", params={"op": "re-trigger"})
    assert refused.status_code == 400
    assert f"flow {flow.id} is disabled" in message(refused)
