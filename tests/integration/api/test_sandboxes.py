"""``GET /data/foundation/sandbox-management/``: the caller's org's sandboxes, nobody else's."""

from __future__ import annotations

from tests.fixtures.server import Api

SANDBOXES = "/data/foundation/sandbox-management/"


def test_the_sandbox_list_names_prod_as_the_default_and_every_sandbox_of_the_org(any_api: Api) -> None:
    assert any_api.container is not None
    any_api.container.identity.create_sandbox(any_api.org, "dev")
    any_api.container.identity.create_sandbox("OTHER@AdobeOrg", "theirs")
    answer = any_api.call("GET", SANDBOXES)
    assert answer == {
        "sandboxes": [
            {"name": "dev", "title": "dev", "state": "active", "type": "development", "isDefault": False},
            {"name": "prod", "title": "Production", "state": "active", "type": "production", "isDefault": True},
        ],
        "_page": {"limit": 50, "count": 2},
    }
    assert any_api.call("GET", SANDBOXES + "sandboxes") == answer


def test_the_sandbox_list_pages_with_limit_and_offset_and_refuses_a_bad_limit(api: Api) -> None:
    assert api.container is not None
    for name in ("a1", "b2", "c3"):
        api.container.identity.create_sandbox(api.org, name)
    page = api.call("GET", SANDBOXES, params={"limit": 2, "offset": 1})
    assert [s["name"] for s in page["sandboxes"]] == ["b2", "c3"] and page["_page"] == {"limit": 2, "count": 4}
    refused = api.request("GET", SANDBOXES, params={"limit": 0})
    assert refused.status_code == 400 and "limit" in refused.json()["errorMessage"]


def test_the_sandbox_list_needs_a_token_and_is_in_the_openapi_document(api: Api) -> None:
    assert api.request("GET", SANDBOXES, header_overrides={"Authorization": None}).status_code == 401
    paths = api.http.get("/openapi.json").json()["paths"]
    assert "get" in paths["/data/foundation/sandbox-management"]
