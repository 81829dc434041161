"""PUT /runs/{id} (updateRun) under If-Match, on SQLite and PostgreSQL: a caller renames or describes a run;
what the engine owns (status, metrics, activities), what is fixed at creation (flowId, params) and what the
server manages (etag, timestamps) are refused by name. The fence against the engine's own writes while a run
goes is in tests/integration/engine/test_run_update_fencing.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowservice.settings import Settings
from tests.fakes.source import FakeOrg
from tests.fixtures.server import Api, make_api, postgres_url
from tests.integration.engine.conftest import Harness


def error_code(response: Any) -> str:
    return str(response.json()["type"].rsplit("/", 1)[-1])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    url = postgres_url() if request.param == "postgres" else None
    org = FakeOrg()
    org.add_table("account", rows=5)
    api = make_api(Settings(data_dir=tmp_path / "data", database_url=url), sources=org)
    yield Harness(api, org)
    assert api.container is not None
    api.container.close()


@pytest.fixture
def run(harness: Harness) -> dict[str, Any]:
    """A queued on-demand run (no worker takes it in these tests)."""
    flow = harness.flow("account")
    created = harness.api.post("/runs", json={"flowId": flow.id})
    assert created.status_code == 201, created.text
    return dict(harness.api.get(f"/runs/{created.json()['id']}").json()["items"][0])


def put(api: Api, run: dict[str, Any], body: object, etag: str | None) -> Any:
    headers = {"If-Match": etag} if etag is not None else {}
    return api.request("PUT", f"/runs/{run['id']}", json=body, headers=headers)


def current(api: Api, run: dict[str, Any]) -> dict[str, Any]:
    return dict(api.get(f"/runs/{run['id']}").json()["items"][0])


def test_a_put_names_and_describes_a_run_and_answers_its_id_and_new_etag(harness: Harness, run: dict[str, Any]) -> None:
    response = put(harness.api, run, {"name": "Backfill", "description": "after the fix"}, run["etag"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "etag"} and body["id"] == run["id"] and body["etag"] != run["etag"]
    after = current(harness.api, run)
    assert (after["name"], after["description"], after["etag"]) == ("Backfill", "after the fix", body["etag"])
    assert after["metrics"] == run["metrics"] and after["state"] == run["state"] == "scheduled"
    assert after["createdAt"] == run["createdAt"] and after["updatedAt"] >= run["updatedAt"]


def test_a_null_description_removes_it(harness: Harness, run: dict[str, Any]) -> None:
    etag = put(harness.api, run, {"description": "temporary"}, run["etag"]).json()["etag"]
    assert put(harness.api, run, {"description": None}, etag).status_code == 200
    assert "description" not in current(harness.api, run)


def test_the_document_a_get_answered_sent_back_with_a_new_name_is_accepted(
    harness: Harness, run: dict[str, Any]
) -> None:
    response = put(harness.api, run, {**run, "name": "Round trip"}, run["etag"])
    assert response.status_code == 200, response.text
    assert current(harness.api, run)["name"] == "Round trip"


def test_a_put_without_if_match_is_refused_with_1403(harness: Harness, run: dict[str, Any]) -> None:
    response = put(harness.api, run, {"name": "x"}, None)
    assert response.status_code == 400
    assert error_code(response) == "FLOW-1403-400"
    assert "If-Match" in response.json()["errorMessage"]


def test_a_put_with_a_stale_etag_gets_412_and_changes_nothing(harness: Harness, run: dict[str, Any]) -> None:
    fresh = put(harness.api, run, {"name": "First"}, run["etag"]).json()["etag"]
    stale = put(harness.api, run, {"name": "Second"}, run["etag"])
    assert stale.status_code == 412
    assert error_code(stale) == "FLOW-1404-412"
    message = stale.json()["errorMessage"]
    assert run["etag"] in message and fresh in message and "does not match the current version" in message
    after = current(harness.api, run)
    assert after["name"] == "First" and after["etag"] == fresh


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("metrics", {"statusSummary": {"status": "success"}}, "written by the engine"),
        ("activities", [{"id": "copyActivity"}], "written by the engine"),
        ("state", "success", "written by the engine"),
        ("flowId", "another-flow", "fixed when the run is created"),
        ("params", {"windowStartTime": 1}, "fixed when the run is created"),
        ("providerRefId", "x", "fixed when the run is created"),
        ("etag", '"forged"', "managed by the server"),
        ("createdAt", 1, "managed by the server"),
        ("updatedAt", 1, "managed by the server"),
        ("sandboxName", "dev", "managed by the server"),
        ("colour", "blue", "not a field of a run"),
    ],
)
def test_a_put_may_not_change_what_it_does_not_own_and_the_400_names_the_field(
    harness: Harness, run: dict[str, Any], field: str, value: object, why: str
) -> None:
    response = put(harness.api, run, {"name": "ok", field: value}, run["etag"])
    assert response.status_code == 400, response.text
    message = response.json()["errorMessage"]
    assert f"'{field}'" in message and why in message and "name and description" in message
    assert current(harness.api, run) == run  # nothing written, not even the name


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"name": ""}, "'name' of a run must be a non-empty string"),
        ({"name": 7}, "'name' of a run must be a non-empty string"),
        ({"name": "n" * 257}, "at most 256 characters"),
        ({"description": ["x"]}, "'description' of a run must be a string"),
        ([{"op": "replace", "path": "/name", "value": "x"}], "must be a JSON object"),
    ],
)
def test_a_put_with_a_bad_value_is_refused_precisely(
    harness: Harness, run: dict[str, Any], body: object, expected: str
) -> None:
    response = put(harness.api, run, body, run["etag"])
    assert response.status_code == 400
    assert expected in response.json()["errorMessage"]


def test_a_run_of_another_org_is_not_found_by_put(harness: Harness, run: dict[str, Any]) -> None:
    other = harness.api.as_other_client("OTHERORG0000000000000001@AdobeOrg")
    response = put(other, run, {"name": "mine now"}, run["etag"])
    assert response.status_code == 404
    assert "name" not in current(harness.api, run)


def test_a_run_of_another_sandbox_is_not_found_by_put(harness: Harness, run: dict[str, Any]) -> None:
    api = harness.api
    assert api.container is not None
    api.container.identity.create_sandbox(api.org, "dev")
    dev = Api(api.http, api.org, api.client_id, api.client_secret, api.token, api.container, sandbox="dev")
    response = put(dev, run, {"name": "dev's"}, run["etag"])
    assert response.status_code == 404
    assert "name" not in current(api, run)


def test_the_openapi_document_declares_the_put_with_its_errors_and_example(harness: Harness) -> None:
    operation = harness.api.http.get("/openapi.json").json()["paths"]["/data/foundation/flowservice/runs/{run_id}"][
        "put"
    ]
    assert operation["summary"].startswith("Update a run")
    assert {"400", "404", "412"} <= set(operation["responses"])
    assert operation["requestBody"]["content"]["application/json"]["example"]["name"]
