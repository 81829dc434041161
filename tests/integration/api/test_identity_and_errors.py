"""Identity, tenancy and the error body, against the in-process app and a real ``flowservice serve``."""

from __future__ import annotations

import json
import logging
import sqlite3
import time

import jwt
import pytest

from flowservice.domain.catalogue import DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID
from tests.fixtures.server import BASE, Api, LiveServer, seed_body


def error_code(response) -> str:
    return response.json()["type"].rsplit("/", 1)[-1]


def assert_flow_error_body(response, status: int) -> None:
    body = response.json()
    assert response.status_code == status
    assert body["type"].startswith("https://ns.adobe.com/aep/errors/FLOW-") and body["type"].endswith(f"-{status}")
    assert body["status"] == status and body["title"]
    assert body["report"]["detailed-message"] == body["errorMessage"] == body["errorDetails"]
    assert body["report"]["request-id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"Authorization": None}, 401, "FLOW-2114-401"),
        ({"Authorization": "Bearer not-a-token"}, 401, "FLOW-2115-401"),
        ({"Authorization": "Basic abc"}, 401, "FLOW-2115-401"),
        ({"x-api-key": None}, 403, "FLOW-2120-403"),
        ({"x-api-key": "someone-else"}, 403, "FLOW-2120-403"),
        ({"x-gw-ims-org-id": None}, 401, "FLOW-2001-401"),
        ({"x-gw-ims-org-id": "OTHER@AdobeOrg"}, 403, "FLOW-2000-403"),
        ({"x-sandbox-name": None}, 400, "FLOW-2105-400"),
        ({"x-sandbox-name": "dev"}, 404, "FLOW-2100-404"),
    ],
)
def test_each_missing_or_wrong_header_gets_its_status_and_error_body(api: Api, overrides, status, code) -> None:
    response = api.get("/connections", header_overrides=overrides)
    assert_flow_error_body(response, status)
    assert error_code(response) == code


def test_an_expired_token_is_refused_with_401(api: Api) -> None:
    assert api.container is not None
    key = api.container.identity._key
    expired = jwt.encode(
        {
            "iss": "flowservice-ims",
            "sub": api.client_id,
            "client_id": api.client_id,
            "org": api.org,
            "iat": 1,
            "exp": int(time.time()) - 10,
        },
        key,
        algorithm="HS256",
    )
    response = api.get("/connections", header_overrides={"Authorization": f"Bearer {expired}"})
    assert_flow_error_body(response, 401)
    assert "expired" in response.json()["errorMessage"]


def test_token_endpoint_refuses_a_wrong_secret(api: Api) -> None:
    response = api.http.post(
        "/ims/token/v3", data={"grant_type": "client_credentials", "client_id": api.client_id, "client_secret": "wrong"}
    )
    assert_flow_error_body(response, 401)


def test_token_is_a_signed_jwt_naming_client_and_org(api: Api) -> None:
    claims = jwt.decode(api.token, options={"verify_signature": False})
    assert claims["client_id"] == api.client_id and claims["org"] == api.org and claims["exp"] > time.time()


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        (None, b"{}", 415),
        ("text/plain", b"{}", 415),
        ("application/json", b"{not json", 400),
        ("application/json", b"", 400),
        ("application/json", b"[1,2]", 400),
        ("application/json", f'{{"name": 5, "connectionSpec": {{"id": "{DYNAMICS_SPEC_ID}"}}}}'.encode(), 400),
    ],
)
def test_bad_bodies_get_flow_error_bodies_not_stack_traces(api: Api, content_type, body, status) -> None:
    response = api.post("/connections", content=body, header_overrides={"Content-Type": content_type})
    assert_flow_error_body(response, status)


def test_an_oversized_body_is_refused_with_413(api: Api) -> None:
    big = seed_body()
    big["description"] = "x" * (1024 * 1024 + 10)
    response = api.post("/connections", json=big)
    assert_flow_error_body(response, 413)


def test_unknown_routes_and_methods_get_flow_error_bodies(api: Api) -> None:
    assert_flow_error_body(api.get("/nothing-here"), 404)
    assert_flow_error_body(api.request("PUT", "/connections"), 405)


def test_another_org_cannot_see_a_connection(api: Api) -> None:
    created = api.post("/connections", json=seed_body()).json()
    intruder = api.as_other_client("INTRUDER@AdobeOrg")
    response = intruder.get(f"/connections/{created['id']}")
    assert_flow_error_body(response, 404)
    assert intruder.get("/connections").json()["items"] == []
    patch = intruder.patch(
        f"/connections/{created['id']}",
        json=[{"op": "replace", "path": "/name", "value": "x"}],
        headers={"If-Match": created["etag"]},
    )
    assert patch.status_code == 404
    assert intruder.delete(f"/connections/{created['id']}").status_code == 404
    assert api.get(f"/connections/{created['id']}").status_code == 200


def test_sandbox_dev_cannot_see_a_prod_connection(api: Api) -> None:
    assert api.container is not None
    api.container.identity.create_sandbox(api.org, "dev")
    created = api.post("/connections", json=seed_body()).json()
    api.sandbox = "dev"
    assert api.get(f"/connections/{created['id']}").status_code == 404
    assert api.get("/connections").json()["items"] == []
    api.sandbox = "prod"
    assert api.get(f"/connections/{created['id']}").status_code == 200


def test_connection_specs_list_filters_by_name_and_gets_by_id(api: Api) -> None:
    listed = api.get("/connectionSpecs", params={"property": 'name=="dynamics-online"'}).json()["items"]
    assert [s["id"] for s in listed] == [DYNAMICS_SPEC_ID]
    names = [a["name"] for a in listed[0]["authSpec"]]
    assert names == ["Basic Authentication for Dynamics-Online", "Service Principal Key Based Authentication"]
    assert listed[0]["authSpec"][0]["spec"]["properties"]["password"]["format"] == "password"
    lake = api.get(f"/connectionSpecs/{DATA_LAKE_SPEC_ID}").json()["items"][0]
    assert lake["name"] == "datalake"
    assert api.get("/connectionSpecs/unknown").status_code == 404


def test_openapi_describes_every_route_with_errors_and_headers(api: Api) -> None:
    doc = api.http.get("/openapi.json").json()
    create = doc["paths"][f"{BASE}/connections"]["post"]
    assert {"400", "401", "403", "415"} <= set(create["responses"])
    header_names = {p["name"].lower() for p in create["parameters"] if p["in"] == "header"}
    assert {"authorization", "x-api-key", "x-gw-ims-org-id", "x-sandbox-name", "content-type"} <= header_names
    assert f"{BASE}/connections/{{connection_id}}/explore" in doc["paths"]
    assert "/ims/token/v3" in doc["paths"]


def test_secrets_are_neither_in_the_database_file_nor_in_the_logs(api: Api, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    password = "Pa55-UNIQUE-7d1c2e"
    created = api.post("/connections", json=seed_body(password=password)).json()
    api.get(f"/connections/{created['id']}")
    api.get("/connections")
    assert api.container is not None
    db_path = api.container.settings.data_dir / "flowservice.db"
    api.container.engine.dispose()
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob("flowservice.db*"))
    assert password.encode() not in raw
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT doc, secrets FROM resources").fetchall()
    assert rows and all(password not in doc for doc, _ in rows)
    assert all(secret and password.encode() not in secret for _, secret in rows)
    assert password not in caplog.text


def test_seed_request_against_a_running_server(live_server: LiveServer) -> None:
    """The seed tutorial's call, with its headers and exact body, against ``flowservice serve``."""
    client = live_server.client("SEED0RG@AdobeOrg")
    created = client.post("/connections", content=json.dumps(seed_body()).encode())
    assert created.status_code == 201, created.text
    ident = created.json()
    item = client.get(f"/connections/{ident['id']}").json()["items"][0]
    assert item["auth"]["params"]["password"] == "********"
    ops = [{"op": "replace", "path": "/name", "value": "renamed"}]
    assert client.patch(f"/connections/{ident['id']}", json=ops, headers={"If-Match": ident["etag"]}).status_code == 200
    stale = client.patch(f"/connections/{ident['id']}", json=ops, headers={"If-Match": ident["etag"]})
    assert stale.status_code == 412
    key_files = [live_server.data_dir / "secret.key", live_server.data_dir / "signing.key"]
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in key_files)
