"""POST /connections/search, /flows/search and /flowSpecs/search, on SQLite and PostgreSQL: a search answers what
the GET listing answers for the same filters (items, tokens, counts); /flows/search reads the sandboxes of
x-active-sandbox-ids of the caller's org only; bad bodies get precise Flow Service errors; the lane, which serves
POST /connections, leaves /connections/search to its route."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID, DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID
from flowservice.settings import Settings
from tests.fakes.source import FakeOrg
from tests.fixtures.server import Api, make_api, postgres_url, seed_body
from tests.integration.engine.conftest import Flow, Harness


@dataclass
class World:
    """One org's prod (connections, three flows, one disabled) and dev (one flow), and another org with a dev
    sandbox of its own (one flow), built once per database: the tests only read it."""

    prod: Api
    dev: Api
    other_dev: Api
    prod_flows: list[Flow]
    dev_flow: Flow
    other_flow: Flow


def _sandbox(api: Api, name: str) -> Api:
    assert api.container is not None
    api.container.identity.create_sandbox(api.org, name)
    return Api(api.http, api.org, api.client_id, api.client_secret, api.token, api.container, sandbox=name)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = postgres_url() if request.param == "postgres" else None
    org = FakeOrg()
    for table in ("account", "contact", "lead", "opportunity", "incident"):
        org.add_table(table, rows=2)
    api = make_api(Settings(data_dir=tmp_path_factory.mktemp("search") / "data", database_url=url), sources=org)
    prod = Harness(api, org)  # its base connection is "Dynamics Connection"
    for name in ("Alpha", "beta", "Gamma", "delta", "Epsilon"):
        assert api.post("/connections", json={**seed_body(), "name": name}).status_code == 201
    gamma = next(c for c in api.call("GET", "/connections", params={"property": "name==Gamma"})["items"])
    patch = [{"op": "replace", "path": "/state", "value": "disabled"}]
    assert api.patch(f"/connections/{gamma['id']}", json=patch, headers={"If-Match": gamma["etag"]}).is_success
    for name in ("Lake one", "Lake two"):
        body = {"name": name, "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"}}
        assert api.post("/connections", json=body).status_code == 201
    prod_flows = [prod.flow(table) for table in ("account", "contact", "lead")]
    assert api.post(f"/flows/{prod_flows[1].id}/action", params={"op": "disable"}).is_success
    dev = Harness(_sandbox(api, "dev"), org)
    dev_flow = dev.flow("opportunity")
    other_org = f"{uuid.uuid4().hex[:24].upper()}@AdobeOrg"  # PostgreSQL keeps orgs and sandboxes between runs
    other = Harness(_sandbox(api.as_other_client(other_org), "dev"), org)
    other_flow = other.flow("incident")
    yield World(api, dev.api, other.api, prod_flows, dev_flow, other_flow)
    assert api.container is not None
    api.container.close()


def search(api: Api, collection: str, body: object, **kwargs: Any) -> httpx.Response:
    return api.post(f"/{collection}/search", json=body, **kwargs)


def found(api: Api, collection: str, body: object, **kwargs: Any) -> dict[str, Any]:
    response = search(api, collection, body, **kwargs)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def listed(api: Api, collection: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    response = api.get(f"/{collection}", params=params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def token(answer: dict[str, Any]) -> str | None:
    following = answer.get("_links", {}).get("next")
    return None if not following else str(httpx.URL(following["href"]).params["continuationToken"])


CONNECTION_CASES = [
    ({"queryString": "property=name==beta"}, [("property", "name==beta")]),
    ({"queryString": "property=state==disabled"}, [("property", "state==disabled")]),
    (
        {"queryString": f"property=connectionSpec.id=={DATA_LAKE_SPEC_ID}"},
        [("property", f"connectionSpec.id=={DATA_LAKE_SPEC_ID}")],
    ),
    (
        {"queryString": f"property=connectionSpec.id=={DYNAMICS_SPEC_ID}&property=state==enabled", "orderby": "name"},
        [("property", f"connectionSpec.id=={DYNAMICS_SPEC_ID}"), ("property", "state==enabled"), ("orderby", "name")],
    ),
    ({"queryString": "property=name==Alpha,delta,nobody"}, [("property", "name==Alpha,delta,nobody")]),
    ({"queryString": "property=name%3D%3DLake%20one"}, [("property", "name==Lake one")]),
    ({"orderby": "-name"}, [("orderby", "-name")]),
    ({"orderby": "createdAt", "limit": 3}, [("orderby", "createdAt"), ("limit", "3")]),
    ({"limit": 2}, [("limit", "2")]),
    ({"count": True, "queryString": "property=state==enabled"}, [("count", "true"), ("property", "state==enabled")]),
    ({"count": False, "limit": 1000}, [("limit", "1000")]),
    ({}, []),
]


@pytest.mark.parametrize(("body", "params"), CONNECTION_CASES)
def test_a_connection_search_answers_what_the_property_listing_answers(
    world: World, body: dict[str, Any], params: list[tuple[str, str]]
) -> None:
    searched = found(world.prod, "connections", body)
    expected = listed(world.prod, "connections", params)
    if "count" in expected:
        assert searched == expected and expected["count"] > 0
        return
    assert [c["id"] for c in searched["items"]] == [c["id"] for c in expected["items"]]
    assert searched["items"] == expected["items"]
    assert token(searched) == token(expected)


def test_a_connection_search_of_a_name_finds_that_connection_only(world: World) -> None:
    answer = found(world.prod, "connections", {"queryString": "property=name==beta"})
    assert [c["name"] for c in answer["items"]] == ["beta"]


def test_a_search_pages_through_every_match_with_its_continuation_tokens(world: World) -> None:
    body = {"queryString": f"property=connectionSpec.id=={DYNAMICS_SPEC_ID}", "orderby": "name", "limit": 2}
    pages: list[list[str]] = []
    params: dict[str, str] = {}
    while True:
        answer = found(world.prod, "connections", body, params=params)
        pages.append([c["name"] for c in answer["items"]])
        following = answer["_links"].get("next")
        if not following:
            break
        assert following["href"].startswith("/connections/search?continuationToken=")
        params = {"continuationToken": token(answer) or ""}
    everything = listed(world.prod, "connections", [("property", f"connectionSpec.id=={DYNAMICS_SPEC_ID}")])
    assert [n for page in pages for n in page] == sorted((c["name"] for c in everything["items"]), key=str.lower)
    assert [len(p) for p in pages] == [2, 2, 2]


@pytest.mark.parametrize(
    ("body", "params"),
    [
        ({"queryString": "property=state==disabled"}, [("property", "state==disabled")]),
        ({"queryString": "property=name==lead flow"}, [("property", "name==lead flow")]),
        ({"orderby": "name", "limit": 2}, [("orderby", "name"), ("limit", "2")]),
        ({"count": True}, [("count", "true")]),
        (
            {"queryString": f"property=flowSpec.id=={CRM_TO_AEP_FLOW_SPEC_ID}&property=state==enabled"},
            [("property", f"flowSpec.id=={CRM_TO_AEP_FLOW_SPEC_ID}"), ("property", "state==enabled")],
        ),
    ],
)
def test_a_flow_search_answers_what_the_flow_listing_answers(
    world: World, body: dict[str, Any], params: list[tuple[str, str]]
) -> None:
    searched = found(world.prod, "flows", body)
    expected = listed(world.prod, "flows", params)
    if "count" in expected:
        assert searched == expected == {"count": 3}
        return
    assert searched["items"] == expected["items"] and expected["items"]
    assert token(searched) == token(expected)


def test_projection_fields_keep_only_the_named_fields_of_each_flow(world: World) -> None:
    answer = found(world.prod, "flows", {"projectionFields": "id, name,state,noSuchField", "orderby": "name"})
    assert answer["items"] == [
        {"id": f["id"], "name": f["name"], "state": f["state"]}
        for f in listed(world.prod, "flows", [("orderby", "name")])["items"]
    ]


def ids(answer: dict[str, Any]) -> list[str]:
    return [item["id"] for item in answer["items"]]


def test_a_flow_search_reads_the_caller_s_sandbox_unless_x_active_sandbox_ids_names_others(world: World) -> None:
    prod_ids = {f.id for f in world.prod_flows}
    assert set(ids(found(world.prod, "flows", {}))) == prod_ids
    assert ids(found(world.prod, "flows", {}, headers={"x-active-sandbox-ids": "dev"})) == [world.dev_flow.id]
    both = found(world.prod, "flows", {}, headers={"x-active-sandbox-ids": "prod, DEV,prod"})
    assert set(ids(both)) == prod_ids | {world.dev_flow.id}
    assert world.other_flow.id not in ids(both)
    # the union keeps the listing's order: newest first, the dev flow (created after prod's) at the top
    assert ids(both)[0] == world.dev_flow.id
    assert {item["sandboxName"] for item in both["items"]} == {"prod", "dev"}


def test_another_org_s_flows_are_never_found_even_in_a_sandbox_of_the_same_name(world: World) -> None:
    mine = found(world.prod, "flows", {}, headers={"x-active-sandbox-ids": "dev"})
    assert ids(mine) == [world.dev_flow.id]
    theirs = found(world.other_dev, "flows", {}, headers={"x-active-sandbox-ids": "dev"})
    assert ids(theirs) == [world.other_flow.id]
    refused = search(world.other_dev, "flows", {}, headers={"x-active-sandbox-ids": "prod,nosuch"})
    assert refused.status_code == 404
    assert refused.json()["type"].endswith("FLOW-2100-404")
    assert "'nosuch'" in refused.json()["report"]["detailed-message"]
    assert world.other_dev.org in refused.json()["report"]["detailed-message"]


def test_a_search_across_sandboxes_pages_and_counts_their_union(world: World) -> None:
    headers = {"x-active-sandbox-ids": "prod,dev"}
    union = found(world.prod, "flows", {"orderby": "name"}, headers=headers)
    assert [f["name"] for f in union["items"]] == ["account flow", "contact flow", "lead flow", "opportunity flow"]
    paged: list[str] = []
    params: dict[str, str] = {}
    while True:
        answer = found(world.prod, "flows", {"orderby": "name", "limit": 1}, headers=headers, params=params)
        paged += ids(answer)
        if not answer["_links"].get("next"):
            break
        assert answer["_links"]["next"]["href"].startswith("/flows/search?continuationToken=")
        params = {"continuationToken": token(answer) or ""}
    assert paged == ids(union)
    assert found(world.prod, "flows", {"count": True}, headers=headers) == {"count": 4}
    enabled = found(world.prod, "flows", {"queryString": "property=state==enabled"}, headers=headers)
    assert set(ids(enabled)) == {world.prod_flows[0].id, world.prod_flows[2].id, world.dev_flow.id}


@pytest.mark.parametrize(
    ("header", "status", "code", "words"),
    [
        ("nosuch", 404, "FLOW-2100-404", "'nosuch'"),
        ("prod,,dev", 400, "FLOW-1100-400", "empty sandbox"),
        (" ", 400, "FLOW-1100-400", "empty sandbox"),
    ],
)
def test_a_bad_x_active_sandbox_ids_is_refused_naming_what_is_wrong(
    world: World, header: str, status: int, code: str, words: str
) -> None:
    response = search(world.prod, "flows", {}, headers={"x-active-sandbox-ids": header})
    assert response.status_code == status, response.text
    assert response.json()["type"].endswith(code)
    assert words in response.json()["report"]["detailed-message"]


def test_a_repeated_x_active_sandbox_ids_header_is_refused(world: World) -> None:
    api = world.prod
    sent = [*api.headers().items(), ("x-active-sandbox-ids", "prod"), ("x-active-sandbox-ids", "dev")]
    response = api.http.post("/data/foundation/flowservice/flows/search", json={}, headers=sent)
    assert response.status_code == 400
    assert "more than once" in response.json()["report"]["detailed-message"]


@pytest.mark.parametrize(
    ("body", "params"),
    [
        ({"queryString": "property=name==CRMToAEP"}, [("property", "name==CRMToAEP")]),
        ({"queryString": "property=name==nothing"}, [("property", "name==nothing")]),
        (
            {"queryString": f"property=targetConnectionSpecIds=={DATA_LAKE_SPEC_ID}"},
            [("property", f"targetConnectionSpecIds=={DATA_LAKE_SPEC_ID}")],
        ),
        ({}, []),
    ],
)
def test_a_flow_spec_search_answers_what_the_flow_spec_listing_answers(
    world: World, body: dict[str, Any], params: list[tuple[str, str]]
) -> None:
    assert found(world.prod, "flowSpecs", body) == listed(world.prod, "flowSpecs", params)


def test_a_flow_spec_search_counts_limits_and_projects(world: World) -> None:
    assert found(world.prod, "flowSpecs", {"count": True}) == {"count": 1}
    assert found(world.prod, "flowSpecs", {"projectionFields": "id,name"}) == {
        "items": [{"id": CRM_TO_AEP_FLOW_SPEC_ID, "name": "CRMToAEP"}]
    }
    assert found(world.prod, "flowSpecs", {"limit": 1, "orderby": "-name"})["items"][0]["id"] == CRM_TO_AEP_FLOW_SPEC_ID


@pytest.mark.parametrize(
    ("collection", "body", "params", "code", "words"),
    [
        ("connections", [], None, "FLOW-1100-400", "must be a JSON object"),
        ("connections", {"query": "x"}, None, "FLOW-1451-400", "Unknown field 'query'"),
        ("connections", {"projectionFields": "id"}, None, "FLOW-1451-400", "Unknown field 'projectionFields'"),
        ("connections", {"queryString": "orderby=name"}, None, "FLOW-1451-400", "parameter 'orderby'"),
        ("connections", {"queryString": "name==x"}, None, "FLOW-1451-400", "property=state==enabled"),
        ("connections", {"queryString": 7}, None, "FLOW-1100-400", "'queryString' must be a string"),
        ("connections", {"queryString": "property=name~x"}, None, "FLOW-1440-400", "'~'"),
        ("connections", {"queryString": "property=name="}, None, "FLOW-1453-400", "name="),
        ("connections", {"limit": 0}, None, "FLOW-1452-400", "between 1 and 1000"),
        ("connections", {"limit": 1001}, None, "FLOW-1452-400", "between 1 and 1000"),
        ("connections", {"limit": "10"}, None, "FLOW-1452-400", "'limit' must be an integer"),
        ("connections", {"limit": True}, None, "FLOW-1452-400", "'limit' must be an integer"),
        ("connections", {"count": "yes"}, None, "FLOW-1100-400", "'count' must be a boolean"),
        ("connections", {"count": True, "limit": 5}, None, "FLOW-1401-400", "limit and count"),
        ("connections", {"orderby": "#id"}, None, "FLOW-1433-400", "orderBy"),
        ("connections", {}, {"property": "name==x"}, "FLOW-1451-400", "only continuationToken"),
        ("connections", {}, {"continuationToken": "garbage"}, "FLOW-1453-400", "continuationToken"),
        ("flows", {"projectionFields": "id,,name"}, None, "FLOW-1449-400", "projectionFields"),
        ("flows", {"groupByProperty": "state"}, None, "FLOW-1451-400", "Unknown field 'groupByProperty'"),
        ("flowSpecs", {"groupByProperty": "name"}, None, "FLOW-1451-400", "'groupByProperty' is not supported"),
    ],
)
def test_a_bad_search_body_gets_a_precise_400(
    world: World, collection: str, body: object, params: dict[str, str] | None, code: str, words: str
) -> None:
    response = search(world.prod, collection, body, params=params)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["type"].endswith(code), error
    assert words in error["report"]["detailed-message"], error


def test_a_search_without_a_body_or_of_another_type_is_refused_as_any_post(world: World) -> None:
    empty = world.prod.post("/connections/search")
    assert empty.status_code == 400 and empty.json()["type"].endswith("FLOW-1405-400")
    form = world.prod.post("/flows/search", content="x", headers={"Content-Type": "text/plain"})
    assert form.status_code == 415


def test_the_lane_leaves_a_connection_search_to_its_route_and_creates_nothing(world: World) -> None:
    before = listed(world.prod, "connections", [("count", "true")])["count"]
    # a body the lane's create would accept as a connection: a search must not create it
    for path in ("/connections/search", "/connections/search/"):
        response = world.prod.post(path, json={"queryString": "property=name==beta"})
        assert response.status_code == 200, response.text
        assert [c["name"] for c in response.json()["items"]] == ["beta"]
    created_lookalike = world.prod.post("/connections/search", json=seed_body())
    assert created_lookalike.status_code == 400 and "Unknown field" in created_lookalike.text
    assert listed(world.prod, "connections", [("count", "true")])["count"] == before


def test_a_search_needs_the_identity_headers(world: World) -> None:
    response = world.prod.post("/connections/search", json={}, header_overrides={"Authorization": None})
    assert response.status_code == 401


def test_the_openapi_document_declares_the_searches_with_bodies_errors_and_parameters(world: World) -> None:
    paths = world.prod.http.get("/openapi.json").json()["paths"]
    for collection in ("connections", "flows", "flowSpecs"):
        operation = paths[f"/data/foundation/flowservice/{collection}/search"]["post"]
        assert operation["summary"].startswith("Search")
        assert {"400", "401", "403", "404", "415"} <= set(operation["responses"])
        assert operation["requestBody"]["content"]["application/json"]["example"]
        names = {p["name"] for p in operation["parameters"]}
        assert {"continuationToken", "Authorization", "x-sandbox-name"} <= names
    flows = paths["/data/foundation/flowservice/flows/search"]["post"]
    assert "x-active-sandbox-ids" in {p["name"] for p in flows["parameters"]}
