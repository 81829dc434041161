"""Flows through the API (validation order, actions, deletes refused while in use) and the scheduler."""

from __future__ import annotations

import time

from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID, DYNAMICS_SPEC_ID
from flowservice.services.runs import Scheduler
from tests.integration.engine.conftest import Harness


def code(response) -> str:
    return response.json()["type"].rsplit("/", 1)[-1]


def test_flow_specs_list_crm_to_aep_by_name(harness: Harness) -> None:
    items = harness.api.get("/flowSpecs", params={"property": 'name=="CRMToAEP"'}).json()["items"]
    assert [i["id"] for i in items] == [CRM_TO_AEP_FLOW_SPEC_ID]
    assert {t["name"] for t in items[0]["transformationSpecs"]} == {"Copy", "Mapping"}


def test_flow_validation_names_the_first_problem_in_documented_order(harness: Harness) -> None:
    harness.org.add_table("account", rows=1)
    flow = harness.flow("account")
    good = harness.api.get(f"/flows/{flow.id}").json()["items"][0]
    base = {
        k: good[k]
        for k in ("name", "flowSpec", "sourceConnectionIds", "targetConnectionIds", "transformations", "scheduleParams")
    }
    cases = [
        ({**base, "state": "enabled"}, "FLOW-1410-400"),
        ({**base, "flowSpec": {"id": "nope"}}, "FLOW-1413-400"),
        ({**base, "transformations": [{"name": "Copy", "params": {}}]}, "FLOW-1100-400"),
        ({**base, "transformations": [{"name": "Copy", "params": {"deltaColumn": {"name": "nope"}}}]}, "FLOW-1419-400"),
        (
            {**base, "scheduleParams": {"startTime": "1612310466", "frequency": "minute", "interval": "5"}},
            "FLOW-1100-400",
        ),
    ]
    for body, expected in cases:
        response = harness.api.post("/flows", json=body)
        assert response.status_code == 400, body
        assert code(response) == expected, response.json()["errorMessage"]
    minute = harness.api.post(
        "/flows", json={**base, "scheduleParams": {"startTime": "1612310466", "frequency": "minute", "interval": "4"}}
    )
    assert "at least 15" in minute.json()["errorMessage"]


def test_flows_are_enabled_disabled_patched_and_listed_by_state(harness: Harness) -> None:
    harness.org.add_table("account", rows=1)
    flow = harness.flow("account")
    doc = harness.api.get(f"/flows/{flow.id}").json()["items"][0]
    assert doc["state"] == "enabled" and doc["runs"] == f"/runs?property=flowId=={flow.id}"
    assert harness.api.post(f"/flows/{flow.id}/action", params={"op": "disable"}).status_code == 200
    assert harness.api.get("/flows", params={"property": "state==disabled"}).json()["items"][0]["id"] == flow.id
    etag = harness.api.get(f"/flows/{flow.id}").json()["items"][0]["etag"]
    patched = harness.api.patch(
        f"/flows/{flow.id}",
        json=[{"op": "replace", "path": "/scheduleParams/frequency", "value": "day"}],
        headers={"If-Match": etag},
    )
    assert patched.status_code == 200, patched.text
    doc = harness.api.get(f"/flows/{flow.id}").json()["items"][0]
    assert doc["scheduleParams"]["frequency"] == "day" and doc["state"] == "disabled"
    assert doc["lastOperation"]["operation"] == "update"


def test_deleting_what_a_flow_uses_is_refused_then_allowed_after_the_flow_goes(harness: Harness) -> None:
    harness.org.add_table("account", rows=1)
    flow = harness.flow("account")
    doc = harness.api.get(f"/flows/{flow.id}").json()["items"][0]
    source_id, target_id = doc["sourceConnectionIds"][0], doc["targetConnectionIds"][0]
    assert code(harness.api.delete(f"/sourceConnections/{source_id}")) == "FLOW-1447-400"
    assert code(harness.api.delete(f"/targetConnections/{target_id}")) == "FLOW-1447-400"
    assert code(harness.api.delete(f"/connections/{harness.connection_id}")) == "FLOW-1418-400"
    assert code(harness.api.delete(f"/data/foundation/catalog/dataSets/{flow.dataset_id}")) == "FLOW-1447-400"
    assert harness.api.delete(f"/flows/{flow.id}").status_code == 204
    assert harness.api.get(f"/flows/{flow.id}").status_code == 404
    assert harness.api.delete(f"/sourceConnections/{source_id}").status_code == 204
    assert harness.api.delete(f"/targetConnections/{target_id}").status_code == 204
    assert harness.api.delete(f"/connections/{harness.connection_id}").status_code == 204


def test_source_connections_are_checked_against_the_source(harness: Harness) -> None:
    harness.org.add_table("account", rows=1)
    body = {
        "name": "x",
        "baseConnectionId": harness.connection_id,
        "data": {"format": "tabular"},
        "params": {"tableName": "nope"},
        "connectionSpec": {"id": DYNAMICS_SPEC_ID},
    }
    response = harness.api.post("/sourceConnections", json=body)
    assert response.status_code == 400 and "'nope' does not exist" in response.json()["errorMessage"]
    body["params"] = {"tableName": "account", "columns": [{"name": "name"}, {"name": "ghost"}]}
    response = harness.api.post("/sourceConnections", json=body)
    assert response.status_code == 400 and "ghost" in response.json()["errorMessage"]
    body["params"] = {"tableName": "account", "columns": ["name"]}
    created = harness.api.post("/sourceConnections", json=body)
    assert created.status_code == 201
    listed = harness.api.get("/sourceConnections", params={"property": "params.tableName==account"}).json()
    assert listed["items"][0]["params"]["primaryKey"] == "accountid"


def test_the_scheduler_fires_each_window_once_across_restarts_and_catches_up(harness: Harness) -> None:
    harness.org.add_table("account", rows=2)
    start = int(time.time()) - 3 * 3600 - 60  # three hourly windows have ended
    flow = harness.flow("account", schedule={"startTime": start, "frequency": "hour", "interval": 1, "backfill": False})
    queue, schedules = harness.container.queue, harness.container.scheduler.schedules
    first = Scheduler(schedules, queue, max_catch_up=10)
    assert first.tick() == 3
    assert first.tick() == 0
    restarted = Scheduler(schedules, queue, max_catch_up=10)  # a new process: state comes from the database
    assert restarted.tick() == 0
    later = Scheduler(schedules, queue, max_catch_up=10, clock=lambda: time.time() + 3600)
    assert later.tick() == 1
    runs = harness.api.get("/runs", params={"property": f"flowId=={flow.id}"}).json()["items"]
    windows = sorted(r["windowExtensions"]["windowStart"] for r in runs)
    assert windows == [(start + i * 3600) * 1000 for i in range(4)]
    worker = harness.container.worker()
    while worker.run_once():
        pass
    statuses = {
        r["metrics"]["statusSummary"]["status"]
        for r in harness.api.get("/runs", params={"property": f"flowId=={flow.id}"}).json()["items"]
    }
    assert statuses == {"success"}


def test_disabled_flows_are_not_scheduled(harness: Harness) -> None:
    harness.org.add_table("account", rows=2)
    flow = harness.flow(
        "account",
        schedule={"startTime": int(time.time()) - 7200, "frequency": "hour", "interval": 1, "backfill": False},
    )
    harness.api.post(f"/flows/{flow.id}/action", params={"op": "disable"})
    assert Scheduler(harness.container.scheduler.schedules, harness.container.queue).tick() == 0


def test_one_flow_never_has_two_runs_at_once(harness: Harness) -> None:
    harness.org.add_table("account", rows=2)
    flow = harness.flow("account")
    harness.api.post("/runs", json={"flowId": flow.id})
    harness.api.post("/runs", json={"flowId": flow.id})
    queue = harness.container.queue
    assert queue.claim("a", 60) is not None
    assert queue.claim("b", 60) is None


def test_flows_show_their_last_run_without_changing_their_etag(harness: Harness) -> None:
    harness.org.add_table("account", rows=3)
    flow = harness.flow("account")
    before = harness.api.get(f"/flows/{flow.id}").json()["items"][0]
    assert "lastRunDetails" not in before
    run = harness.run(flow)
    after = harness.api.get(f"/flows/{flow.id}").json()["items"][0]
    assert after["etag"] == before["etag"]
    assert after["lastRunDetails"]["id"] == run["id"] and after["lastRunDetails"]["state"] == "success"
    listed = harness.api.get("/flows", params={"property": "lastRunDetails.state==success"}).json()["items"]
    assert [f["id"] for f in listed] == [flow.id]
