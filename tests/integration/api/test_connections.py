"""Connections through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from flowservice.domain.catalogue import DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID
from tests.fixtures.server import Api, seed_body


def error_code(response) -> str:
    return response.json()["type"].rsplit("/", 1)[-1]


def test_seed_request_creates_a_connection_with_id_and_etag(any_api: Api) -> None:
    response = any_api.post("/connections", json=seed_body())
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "etag"}
    assert body["etag"].startswith('"') and body["etag"].endswith('"')


def test_get_returns_the_connection_in_items_with_the_password_masked(any_api: Api) -> None:
    created = any_api.post("/connections", json=seed_body(password="hunter2-secret")).json()
    response = any_api.get(f"/connections/{created['id']}")
    assert response.status_code == 200
    item = response.json()["items"][0]
    assert item["id"] == created["id"] and item["etag"] == created["etag"] == item["version"]
    assert item["auth"]["params"]["password"] == "********"
    assert item["auth"]["params"]["username"] == "someone@contoso.com"
    assert item["imsOrgId"] == any_api.org and item["sandboxName"] == "prod" and item["state"] == "enabled"
    assert isinstance(item["createdAt"], int) and item["createdAt"] > 1_600_000_000_000
    assert "hunter2-secret" not in response.text


def test_patch_with_current_etag_succeeds_and_stale_etag_gets_412(any_api: Api) -> None:
    created = any_api.post("/connections", json=seed_body()).json()
    ops = [{"op": "replace", "path": "/name", "value": "Renamed"}]
    first = any_api.patch(f"/connections/{created['id']}", json=ops, headers={"If-Match": created["etag"]})
    assert first.status_code == 200
    assert first.json()["etag"] != created["etag"]
    stale = any_api.patch(f"/connections/{created['id']}", json=ops, headers={"If-Match": created["etag"]})
    assert stale.status_code == 412
    assert error_code(stale) == "FLOW-1404-412"
    assert any_api.get(f"/connections/{created['id']}").json()["items"][0]["name"] == "Renamed"


def test_patch_accepts_the_etag_without_quotes_and_on_a_trailing_slash_path(any_api: Api) -> None:
    created = any_api.post("/connections", json=seed_body()).json()
    bare = created["etag"].strip('"')
    ops = [{"op": "add", "path": "/description", "value": "new"}]
    response = any_api.patch(f"/connections/{created['id']}/", json=ops, headers={"If-Match": bare})
    assert response.status_code == 200


def test_patch_without_if_match_is_rejected_with_1403(any_api: Api) -> None:
    created = any_api.post("/connections", json=seed_body()).json()
    response = any_api.patch(f"/connections/{created['id']}", json=[{"op": "replace", "path": "/name", "value": "x"}])
    assert response.status_code == 400
    assert error_code(response) == "FLOW-1403-400"


def test_patch_cannot_change_the_connection_spec(any_api: Api) -> None:
    created = any_api.post("/connections", json=seed_body()).json()
    ops = [{"op": "replace", "path": "/connectionSpec/id", "value": DATA_LAKE_SPEC_ID}]
    response = any_api.patch(f"/connections/{created['id']}", json=ops, headers={"If-Match": created["etag"]})
    assert response.status_code == 400
    assert error_code(response) == "FLOW-1414-400"


def test_patching_the_password_replaces_the_secret_and_keeps_it_masked(any_api: Api) -> None:
    created = any_api.post("/connections", json=seed_body(password="old-pass-1")).json()
    ops = [{"op": "replace", "path": "/auth/params/password", "value": "new-pass-2"}]
    response = any_api.patch(f"/connections/{created['id']}", json=ops, headers={"If-Match": created["etag"]})
    assert response.status_code == 200
    assert any_api.container is not None
    from flowservice.domain.tenancy import Tenant

    stored = any_api.container.connections.get(Tenant(any_api.org, "prod"), created["id"], with_secrets=True)
    assert stored.secrets == {"password": "new-pass-2"}
    assert stored.doc["auth"]["params"]["password"] == "********"


def test_unknown_op_in_patch_is_rejected_with_1434(any_api: Api) -> None:
    created = any_api.post("/connections", json=seed_body()).json()
    response = any_api.patch(
        f"/connections/{created['id']}",
        json=[{"op": "move", "from": "/name", "path": "/x"}],
        headers={"If-Match": created["etag"]},
    )
    assert error_code(response) == "FLOW-1434-400"


def test_delete_returns_204_and_then_the_connection_is_gone(any_api: Api) -> None:
    created = any_api.post("/connections", json=seed_body()).json()
    assert any_api.delete(f"/connections/{created['id']}").status_code == 204
    gone = any_api.get(f"/connections/{created['id']}")
    assert gone.status_code == 404
    assert error_code(gone) == "FLOW-1101-404"
    assert gone.json()["report"]["id"] == created["id"]


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda b: b["auth"]["params"].pop("password"), "'auth.params.password' is required"),
        (lambda b: b["auth"]["params"].update(serviceUri=42), "auth.params.serviceUri"),
        (lambda b: b["auth"]["params"].update(colour="blue"), "colour"),
        (lambda b: b["auth"].update(specName="Kerberos"), "'Kerberos' could not be found"),
    ],
)
def test_invalid_auth_params_get_a_400_naming_the_field(any_api: Api, mutate, fragment: str) -> None:
    body = seed_body()
    mutate(body)
    response = any_api.post("/connections", json=body)
    assert response.status_code == 400
    assert fragment in response.json()["errorMessage"]


def test_unknown_connection_spec_is_rejected_with_1413(api: Api) -> None:
    body = seed_body()
    body["connectionSpec"]["id"] = "00000000-0000-0000-0000-000000000000"
    response = api.post("/connections", json=body)
    assert response.status_code == 400
    assert error_code(response) == "FLOW-1413-400"


def test_service_principal_connection_masks_the_key(api: Api) -> None:
    body = {
        "name": "Dynamics SP",
        "auth": {
            "specName": "Service Principal Key Based Authentication",
            "params": {
                "serviceUri": "https://x.crm.dynamics.com",
                "servicePrincipalId": "app-id",
                "servicePrincipalKey": "very-secret-key",
            },
        },
        "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
    }
    created = api.post("/connections", json=body)
    assert created.status_code == 201
    item = api.get(f"/connections/{created.json()['id']}").json()["items"][0]
    assert item["auth"]["params"]["servicePrincipalKey"] == "********"
    assert item["auth"]["params"]["servicePrincipalId"] == "app-id"


def test_listing_filters_orders_pages_and_counts(any_api: Api) -> None:
    ids = []
    for name in ["charlie", "alpha", "bravo", "delta", "echo"]:
        body = seed_body()
        body["name"] = name
        ids.append(any_api.post("/connections", json=body).json()["id"])
    ordered = any_api.get("/connections", params={"orderby": "name"}).json()["items"]
    assert [c["name"] for c in ordered] == ["alpha", "bravo", "charlie", "delta", "echo"]
    desc = any_api.get("/connections", params={"orderby": "-name", "limit": 2}).json()
    assert [c["name"] for c in desc["items"]] == ["echo", "delta"]
    href = desc["_links"]["next"]["href"]
    assert href.startswith("/connections?continuationToken=")
    token = href.split("=", 1)[1]
    second = any_api.get("/connections", params={"orderby": "-name", "limit": 2, "continuationToken": token}).json()
    assert [c["name"] for c in second["items"]] == ["charlie", "bravo"]
    filtered = any_api.get("/connections", params={"property": 'name=="ALPHA",bravo'}).json()["items"]
    assert sorted(c["name"] for c in filtered) == ["alpha", "bravo"]
    by_spec = any_api.get(
        "/connections", params={"property": f"connectionSpec.id=={DYNAMICS_SPEC_ID}", "count": "true"}
    ).json()
    assert by_spec == {"count": 5}
    newer = any_api.get("/connections", params=[("property", "createdAt>0"), ("property", "name==echo")]).json()
    assert [c["name"] for c in newer["items"]] == ["echo"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"property": "name~x"}, "FLOW-1440-400"),
        ({"property": "createdAt<=1,2"}, "FLOW-1443-400"),
        ({"property": "id>=3"}, "FLOW-1448-400"),
        ({"property": "name!>x"}, "FLOW-1450-400"),
        ({"testParam": "1"}, "FLOW-1451-400"),
        ({"limit": "5", "count": "true"}, "FLOW-1401-400"),
        ({"limit": "5000"}, "FLOW-1452-400"),
        ({"orderby": "-"}, "FLOW-1433-400"),
    ],
)
def test_bad_listing_parameters_get_their_documented_codes(api: Api, params: dict, code: str) -> None:
    response = api.get("/connections", params=params)
    assert response.status_code == 400
    assert error_code(response) == code
