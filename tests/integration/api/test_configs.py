"""GET /connections/{id}/configs, GET /connectionSpecs/{id}/configs and GET /connectionSpecs/{id}/explore, on SQLite
and PostgreSQL: the documented ``{"items": [{"columnName", "columnType"}]}`` shape, built from the spec's own
parameters (services/specs.py says what configs means here); unknown ids, other tenants and a spec without an
exploreSpec get precise Flow Service errors."""

from __future__ import annotations

from typing import Any

from flowservice.domain.catalogue import DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID
from tests.fixtures.server import Api, seed_body

DYNAMICS_CONFIGS = [
    {"columnName": "tableName", "columnType": "string", "required": True},
    {"columnName": "columns", "columnType": "array", "required": False},
    {
        "columnName": "entityType",
        "columnType": "string",
        "required": False,
        "enum": ["table", "view"],
        "default": "table",
    },
    {"columnName": "primaryKey", "columnType": "string", "required": False},
    {"columnName": "lookupNames", "columnType": "boolean", "required": False, "default": False},
    {"columnName": "downloadFiles", "columnType": "boolean", "required": False, "default": False},
    {"columnName": "choiceLabels", "columnType": "boolean", "required": False, "default": False},
    {"columnName": "labelLanguage", "columnType": "integer", "required": False},
    {
        "columnName": "multiSelectFormat",
        "columnType": "string",
        "required": False,
        "enum": ["list", "text"],
        "default": "list",
    },
    {"columnName": "optionSetTables", "columnType": "array", "required": False},
]
DATA_LAKE_CONFIGS = [
    {"columnName": "dataSetId", "columnType": "string", "required": True},
    {
        "columnName": "writeMode",
        "columnType": "string",
        "required": False,
        "enum": ["merge", "append"],
        "default": "merge",
    },
]


def items(api: Api, path: str) -> list[dict[str, Any]]:
    response = api.get(path)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"items"}
    found: list[dict[str, Any]] = response.json()["items"]
    assert all({"columnName", "columnType"} <= set(row) for row in found)
    return found


def error(response: Any) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["type"].rsplit("/", 1)[-1], body["report"]["detailed-message"]


def test_the_dynamics_spec_s_configs_are_the_params_its_source_connections_take(any_api: Api) -> None:
    assert items(any_api, f"/connectionSpecs/{DYNAMICS_SPEC_ID}/configs") == DYNAMICS_CONFIGS


def test_the_data_lake_spec_s_configs_are_the_params_its_target_connections_take(any_api: Api) -> None:
    assert items(any_api, f"/connectionSpecs/{DATA_LAKE_SPEC_ID}/configs") == DATA_LAKE_CONFIGS


def test_a_connection_s_configs_are_those_of_its_spec(any_api: Api) -> None:
    dynamics = any_api.call("POST", "/connections", json=seed_body())["id"]
    lake = any_api.call(
        "POST", "/connections", json={"name": "lake", "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"}}
    )["id"]
    assert items(any_api, f"/connections/{dynamics}/configs") == DYNAMICS_CONFIGS
    assert items(any_api, f"/connections/{lake}/configs") == DATA_LAKE_CONFIGS


def test_configs_of_an_unknown_connection_or_one_of_another_org_are_not_found(any_api: Api) -> None:
    mine = any_api.call("POST", "/connections", json=seed_body())["id"]
    other = any_api.as_other_client("CONFIGSOTHER000000000001@AdobeOrg")
    assert error(other.get(f"/connections/{mine}/configs"))[:2] == (404, "FLOW-1101-404")
    status, code, message = error(any_api.get("/connections/no-such-id/configs"))
    assert (status, code) == (404, "FLOW-1101-404") and "no-such-id" in message


def test_configs_of_an_unknown_spec_are_not_found(any_api: Api) -> None:
    status, code, message = error(any_api.get("/connectionSpecs/no-such-spec/configs"))
    assert (status, code) == (404, "FLOW-1101-404") and "no-such-spec" in message


def test_the_dynamics_spec_explore_describes_the_explore_request_its_spec_defines(any_api: Api) -> None:
    rows = items(any_api, f"/connectionSpecs/{DYNAMICS_SPEC_ID}/explore")
    assert rows[0] == {"columnName": "objectType", "columnType": "string", "required": False, "enum": ["root", "table"]}
    # the choice options a table's explore takes, as a source connection's params do (labels, language, format)
    assert [r["columnName"] for r in rows[1:]] == ["choiceLabels", "labelLanguage", "multiSelectFormat"]


def test_a_spec_explore_with_object_parameters_points_to_the_connection_explore(any_api: Api) -> None:
    status, code, message = error(any_api.get(f"/connectionSpecs/{DYNAMICS_SPEC_ID}/explore?objectType=root"))
    assert (status, code) == (400, "FLOW-1451-400")
    assert "objectType" in message and "/connections/{BASE_CONNECTION_ID}/explore" in message


def test_the_data_lake_spec_defines_no_explore_and_says_so(any_api: Api) -> None:
    status, code, message = error(any_api.get(f"/connectionSpecs/{DATA_LAKE_SPEC_ID}/explore"))
    assert (status, code) == (400, "FLOW-1100-400")
    assert "defines no exploreSpec" in message and DATA_LAKE_SPEC_ID in message


def test_configs_and_spec_explore_need_the_identity_headers(any_api: Api) -> None:
    for path in (f"/connectionSpecs/{DYNAMICS_SPEC_ID}/configs", f"/connectionSpecs/{DYNAMICS_SPEC_ID}/explore"):
        assert any_api.get(path, header_overrides={"Authorization": None}).status_code == 401


def test_the_openapi_document_declares_configs_and_spec_explore(any_api: Api) -> None:
    paths = any_api.http.get("/openapi.json").json()["paths"]
    base = "/data/foundation/flowservice"
    for path in ("/connections/{connection_id}/configs", "/connectionSpecs/{spec_id}/configs"):
        operation = paths[base + path]["get"]
        assert "columnName" in operation["summary"] and "404" in operation["responses"]
    assert "400" in paths[base + "/connectionSpecs/{spec_id}/explore"]["get"]["responses"]
