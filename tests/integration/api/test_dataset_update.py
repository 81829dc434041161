"""Updating a dataset as Catalog documents it (PATCH by fields or by JSON Patch, PUT to replace), on SQLite and
PostgreSQL: name, description and tags change; the schema, the Delta table and the server's fields do not,
and a change to one is refused by name. Answers are Catalog's array of references."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.server import Api

CATALOG = "/data/foundation/catalog"
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
SCHEMA = {"id": "https://ns.adobe.com/tenant/schemas/abc", "contentType": "application/vnd.adobe.xed+json;version=1"}


def create(api: Api, name: str = "Accounts", **extra: Any) -> str:
    response = api.post(f"{CATALOG}/dataSets", json={"name": name, "schemaRef": SCHEMA, **extra})
    assert response.status_code == 201, response.text
    return str(response.json()[0].split("/")[-1])


def dataset(api: Api, id: str) -> dict[str, Any]:
    response = api.get(f"{CATALOG}/dataSets/{id}")
    assert response.status_code == 200, response.text
    return dict(response.json()[id])


def patch(api: Api, id: str, body: object, headers: dict[str, str] | None = None) -> Any:
    return api.request("PATCH", f"{CATALOG}/dataSets/{id}", json=body, headers=headers)


def put(api: Api, id: str, body: object, headers: dict[str, str] | None = None) -> Any:
    return api.request("PUT", f"{CATALOG}/dataSets/{id}", json=body, headers=headers)


def test_a_patch_by_fields_changes_only_them_and_answers_the_reference(any_api: Api) -> None:
    id = create(any_api, tags={"sampleTag": ["123456"]})
    before = dataset(any_api, id)
    response = patch(any_api, id, {"name": "Updated Dataset Name", "description": "Updated description"})
    assert response.status_code == 200, response.text
    assert response.json() == [f"@/dataSets/{id}"]
    after = dataset(any_api, id)
    assert (after["name"], after["description"]) == ("Updated Dataset Name", "Updated description")
    assert after["tags"] == {"sampleTag": ["123456"]} and after["schemaRef"] == SCHEMA
    assert after["lake"]["path"] == before["lake"]["path"] and after["created"] == before["created"]
    assert after["updated"] >= before["updated"] and after["etag"] != before["etag"]


def test_a_json_patch_adds_tags_and_renames(any_api: Api) -> None:
    id = create(any_api)
    ops = [
        {"op": "add", "path": "/tags/unifiedProfile", "value": ["enabled:true"]},
        {"op": "replace", "path": "/name", "value": "Profile accounts"},
    ]
    response = patch(any_api, id, ops, JSON_PATCH)
    assert response.status_code == 200, response.text
    assert response.json() == [f"@/dataSets/{id}"]
    after = dataset(any_api, id)
    assert after["tags"] == {"unifiedProfile": ["enabled:true"]} and after["name"] == "Profile accounts"


def test_json_patch_operations_sent_as_plain_json_are_refused_with_the_content_type_to_use(any_api: Api) -> None:
    id = create(any_api)
    response = patch(any_api, id, [{"op": "replace", "path": "/name", "value": "x"}])
    assert response.status_code == 400
    assert "application/json-patch+json" in response.json()["errorMessage"]
    assert dataset(any_api, id)["name"] == "Accounts"


def test_a_put_replaces_name_description_and_tags_emptying_those_left_out(any_api: Api) -> None:
    id = create(any_api, description="old", tags={"a": ["1"]})
    response = put(any_api, id, {"name": "New Dataset Name"})
    assert response.status_code == 200, response.text
    assert response.json() == [f"@/dataSets/{id}"]
    after = dataset(any_api, id)
    assert (after["name"], after["description"], after["tags"]) == ("New Dataset Name", "", {})
    assert after["schemaRef"] == SCHEMA


def test_a_put_without_a_name_is_refused(any_api: Api) -> None:
    id = create(any_api)
    response = put(any_api, id, {"description": "no name"})
    assert response.status_code == 400
    assert "'name' is required" in response.json()["errorMessage"]


def test_the_document_a_get_answered_sent_back_with_changes_is_accepted(any_api: Api) -> None:
    id = create(any_api)
    doc = dataset(any_api, id)  # with the Delta table's statistics the GET adds to lake
    response = put(any_api, id, {**doc, "name": "Round trip", "tags": {"t": ["v"]}})
    assert response.status_code == 200, response.text
    after = dataset(any_api, id)
    assert after["name"] == "Round trip" and after["tags"] == {"t": ["v"]}


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("schemaRef", {"id": "https://ns.adobe.com/tenant/schemas/other"}, "fixed when the dataset is created"),
        ("lake", {"format": "delta", "path": "elsewhere/datasets/x"}, "Delta table"),
        ("id", "5c8c3c555033b814b69f947f", "identity"),
        ("created", 1, "set when the dataset is created"),
        ("updated", 1, "set by the server"),
        ("files", "@/dataSetFiles?dataSetId=other", "derived from the dataset id"),
        ("imsOrgId", "OTHER@AdobeOrg", "managed by the server"),
        ("colour", "blue", "not a field of a dataset"),
    ],
)
@pytest.mark.parametrize("method", ["fields", "json-patch", "put"])
def test_an_update_may_not_change_what_is_not_the_callers_and_the_400_names_the_field(
    any_api: Api, method: str, field: str, value: object, why: str
) -> None:
    id = create(any_api)
    before = dataset(any_api, id)
    if method == "fields":
        response = patch(any_api, id, {"name": "ok", field: value})
    elif method == "json-patch":
        response = patch(any_api, id, [{"op": "add", "path": f"/{field}", "value": value}], JSON_PATCH)
    else:
        response = put(any_api, id, {"name": "ok", field: value})
    assert response.status_code == 400, response.text
    message = response.json()["errorMessage"]
    assert f"'{field}'" in message and why in message and "name, description, tags" in message
    assert dataset(any_api, id) == before


def test_a_json_patch_into_the_delta_location_is_refused_naming_lake(any_api: Api) -> None:
    id = create(any_api)
    response = patch(any_api, id, [{"op": "replace", "path": "/lake/path", "value": "x/y"}], JSON_PATCH)
    assert response.status_code == 400
    assert "'lake'" in response.json()["errorMessage"]


def test_removing_the_name_by_json_patch_is_refused(any_api: Api) -> None:
    id = create(any_api)
    response = patch(any_api, id, [{"op": "remove", "path": "/name"}], JSON_PATCH)
    assert response.status_code == 400
    assert "'name' of a dataset must be a non-empty string" in response.json()["errorMessage"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"name": ""}, "'name' of a dataset must be a non-empty string"),
        ({"name": "n" * 257}, "at most 256 characters"),
        ({"description": 5}, "'description' of a dataset must be a string"),
        ({"tags": ["x"]}, "'tags' of a dataset must be an object of tag names to arrays of strings"),
        ({"tags": {"t": "not-a-list"}}, "'tags' of a dataset must be an object"),
    ],
)
def test_bad_values_are_refused_precisely(any_api: Api, body: dict[str, Any], expected: str) -> None:
    id = create(any_api)
    response = patch(any_api, id, body)
    assert response.status_code == 400
    assert expected in response.json()["errorMessage"]


def test_a_name_another_dataset_has_is_refused_but_a_change_of_case_of_its_own_is_not(any_api: Api) -> None:
    id = create(any_api, "Accounts")
    create(any_api, "Contacts")
    taken = patch(any_api, id, {"name": "contacts"})
    assert taken.status_code == 400
    assert "already exists" in taken.json()["errorMessage"]
    assert patch(any_api, id, {"name": "ACCOUNTS"}).status_code == 200


def test_if_match_is_optional_but_a_stale_one_gets_412(any_api: Api) -> None:
    id = create(any_api)
    first = dataset(any_api, id)
    assert patch(any_api, id, {"description": "one"}, {"If-Match": first["etag"]}).status_code == 200
    stale = patch(any_api, id, {"description": "two"}, {"If-Match": first["etag"]})
    assert stale.status_code == 412
    assert stale.json()["type"].endswith("FLOW-1404-412")
    assert dataset(any_api, id)["description"] == "one"
    second = dataset(any_api, id)
    # Catalog's If-Match may also be the document's updated stamp
    assert put(any_api, id, {"name": "By stamp"}, {"If-Match": str(second["updated"])}).status_code == 200
    assert dataset(any_api, id)["name"] == "By stamp"


def test_a_dataset_of_another_org_or_sandbox_cannot_be_updated(any_api: Api) -> None:
    id = create(any_api)
    other = any_api.as_other_client("OTHERORG0000000000000002@AdobeOrg")
    assert patch(other, id, {"name": "mine"}).status_code == 404
    assert any_api.container is not None
    any_api.container.identity.create_sandbox(any_api.org, "dev")
    dev = Api(
        any_api.http, any_api.org, any_api.client_id, any_api.client_secret, any_api.token, any_api.container, "dev"
    )
    assert put(dev, id, {"name": "dev's"}).status_code == 404
    assert dataset(any_api, id)["name"] == "Accounts"


def test_the_openapi_document_declares_both_updates_with_errors_and_examples(any_api: Api) -> None:
    operations = any_api.http.get("/openapi.json").json()["paths"][f"{CATALOG}/dataSets/{{dataset_id}}"]
    content = operations["patch"]["requestBody"]["content"]
    assert content["application/json"]["example"]["name"]
    assert content["application/json-patch+json"]["example"][0]["op"] == "add"
    assert operations["put"]["requestBody"]["content"]["application/json"]["example"]["tags"]
    for method in ("patch", "put"):
        assert operations[method]["summary"]
        assert {"400", "404", "412", "415"} <= set(operations[method]["responses"])
