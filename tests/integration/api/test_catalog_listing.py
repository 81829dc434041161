"""GET /dataSets and GET /batches with Catalog's query parameters, on SQLite and PostgreSQL: simple filters,
``property=`` conditions, ``tags=``, createdAfter/createdBefore, orderBy, start, limit (20 by default, at most
100) and properties; a bad value, or a parameter the server does not support, is a 400 that names it."""

from __future__ import annotations

from typing import Any

import pytest

from flowservice.domain.tenancy import Tenant
from tests.fixtures.server import Api

CATALOG = "/data/foundation/catalog"


def create(api: Api, name: str, **fields: Any) -> str:
    response = api.post(f"{CATALOG}/dataSets", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return str(response.json()[0].split("/")[-1])


def listing(api: Api, path: str, **params: str) -> dict[str, Any]:
    response = api.get(f"{CATALOG}/{path}", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def refused(api: Api, path: str, **params: str) -> str:
    response = api.get(f"{CATALOG}/{path}", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["status"] == 400
    return str(response.json()["errorMessage"])


def names(answer: dict[str, Any]) -> list[str]:
    return [doc["name"] for doc in answer.values()]


@pytest.fixture
def batches(any_api: Api) -> dict[str, str]:
    """Five batches over two datasets: created 1000..5000, statuses as named; returns label → batch id."""
    assert any_api.container is not None
    catalog, tenant = any_api.container.catalog, Tenant(any_api.org, "prod")
    first, second = create(any_api, "first"), create(any_api, "second")
    ids = {}
    for label, dataset, status, created in [
        ("a", first, "success", 1000),
        ("b", first, "failed", 2000),
        ("c", second, "success", 3000),
        ("d", second, "loading", 4000),
        ("e", first, "success", 5000),
    ]:
        id = catalog.open_batch(tenant, dataset, f"run-{label}", "flow")
        catalog.update_batch(tenant, id, status=status, created=created)
        ids[label] = id
    ids["first"], ids["second"] = first, second
    return ids


def labels(batches: dict[str, str], answer: dict[str, Any]) -> list[str]:
    by_id = {id: label for label, id in batches.items()}
    return [by_id[id] for id in answer]


# ---------------------------------------------------------------- datasets


def test_datasets_answer_twenty_by_default_and_page_with_start_and_limit(any_api: Api) -> None:
    for i in range(23):
        create(any_api, f"set {i:02d}")
    assert len(listing(any_api, "dataSets")) == 20
    assert names(listing(any_api, "dataSets", start="20")) == ["set 20", "set 21", "set 22"]
    assert names(listing(any_api, "dataSets", start="2", limit="2")) == ["set 02", "set 03"]
    assert len(listing(any_api, "dataSets", limit="100")) == 23


def test_datasets_filter_by_name_any_of_or_none_of(any_api: Api) -> None:
    for name in ("alpha", "beta", "gamma"):
        create(any_api, name)
    assert sorted(names(listing(any_api, "dataSets", name="alpha,gamma"))) == ["alpha", "gamma"]
    assert names(listing(any_api, "dataSets", name="!alpha,gamma")) == ["beta"]
    assert listing(any_api, "dataSets", name="delta") == {}


def test_datasets_order_by_one_or_more_properties(any_api: Api) -> None:
    for name in ("b", "a", "c"):
        create(any_api, name)
    assert names(listing(any_api, "dataSets", orderBy="name")) == ["a", "b", "c"]
    assert names(listing(any_api, "dataSets", orderBy="desc:name")) == ["c", "b", "a"]
    assert names(listing(any_api, "dataSets", orderBy="asc:description,desc:created")) == ["c", "a", "b"]


def test_datasets_answer_only_the_properties_asked_for(any_api: Api) -> None:
    id = create(any_api, "alpha")
    assert listing(any_api, "dataSets", properties="name,schemaRef") == {id: {"name": "alpha"}}
    one = any_api.get(f"{CATALOG}/dataSets/{id}", params={"properties": "name,files"}).json()
    assert one == {id: {"name": "alpha", "files": f"@/dataSetFiles?dataSetId={id}"}}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"limit": "0"}, "'limit' must be an integer between 1 and 100; got 0"),
        ({"limit": "101"}, "'limit' must be an integer between 1 and 100; got 101"),
        ({"limit": "ten"}, "'limit' must be an integer between 1 and 100; got 'ten'"),
        ({"start": "-1"}, "'start' must be an integer between 0"),
        ({"orderBy": "up:name"}, "Invalid orderBy 'up:name'"),
        ({"orderBy": "-name"}, "Invalid orderBy '-name'"),
        ({"orderBy": "name,"}, "Invalid orderBy ''"),
        ({"properties": "name,,id"}, "Invalid properties entry ''"),
        ({"name": ""}, "'name' needs a value"),
        ({"property": "schemaRef.id==x"}, "Invalid property condition 'schemaRef.id==x': only top-level"),
        ({"property": "!name==x"}, "Invalid property condition '!name==x'"),
        ({"property": "name=x"}, "Invalid property condition 'name=x': use one of =="),
        ({"property": "name~(unclosed"}, "Invalid regular expression '(unclosed'"),
        ({"property": "name~(a)\\1"}, "Invalid regular expression"),
        ({"tags": "sampleTag"}, "Invalid tags entry 'sampleTag': give {TAG_NAME}:{TAG_VALUE}"),
        ({"tags": "a:1,"}, "Invalid tags entry ''"),
        ({"status": "success"}, "'status' is not supported on GET /dataSets"),
    ],
)
def test_bad_dataset_listing_parameters_are_refused_by_name(
    any_api: Api, params: dict[str, str], expected: str
) -> None:
    assert expected in refused(any_api, "dataSets", **params)


def test_datasets_filter_by_whether_a_property_exists(any_api: Api) -> None:
    create(any_api, "with schema", schemaRef={"id": "https://ns.adobe.com/tenant/schemas/1"})
    create(any_api, "without")
    assert names(listing(any_api, "dataSets", property="schemaRef")) == ["with schema"]
    assert names(listing(any_api, "dataSets", property="!schemaRef")) == ["without"]


def test_datasets_filter_by_property_equality_with_name_wildcards(any_api: Api) -> None:
    for name in ("test", "tempest", "best", "a*b", "aXb"):
        create(any_api, name)
    assert names(listing(any_api, "dataSets", property="name==best")) == ["best"]
    assert sorted(names(listing(any_api, "dataSets", property="name==te*st"))) == ["tempest", "test"]
    assert sorted(names(listing(any_api, "dataSets", property="name!=te*st"))) == ["a*b", "aXb", "best"]
    assert names(listing(any_api, "dataSets", property="name==a**b")) == ["a*b"]
    assert listing(any_api, "dataSets", property="description==te*st") == {}


def test_datasets_filter_by_a_regular_expression_and_a_hostile_one_answers_at_once(any_api: Api) -> None:
    for name in ("example one", "an example", "other"):
        create(any_api, name)
    assert names(listing(any_api, "dataSets", property="name~^example")) == ["example one"]
    assert sorted(names(listing(any_api, "dataSets", property="name~ample"))) == ["an example", "example one"]
    create(any_api, "a" * 40 + "!")
    # catastrophic backtracking for a backtracking engine; RE2 answers in linear time
    assert listing(any_api, "dataSets", property="name~^(a+)+$") == {}


def test_datasets_filter_by_comparing_a_number(any_api: Api) -> None:
    ids = {name: create(any_api, name) for name in ("old", "new")}
    assert any_api.container is not None
    resources, tenant = any_api.container.catalog.resources, Tenant(any_api.org, "prod")
    for name, created in (("old", 1000), ("new", 2000)):
        stored = resources.get("dataSets", tenant, ids[name])
        assert stored is not None
        resources.update("dataSets", tenant, ids[name], {**stored.doc, "created": created}, None, if_etag=None)
    assert names(listing(any_api, "dataSets", property="created>1000")) == ["new"]
    assert names(listing(any_api, "dataSets", property="created<=1000")) == ["old"]
    assert listing(any_api, "dataSets", property="created>many") == {}


def test_several_property_conditions_must_all_hold(any_api: Api) -> None:
    for name in ("alpha", "alpine", "beta"):
        create(any_api, name)
    response = any_api.get(f"{CATALOG}/dataSets?property=name~^al&property=name!=alpha")
    assert response.status_code == 200, response.text
    assert names(response.json()) == ["alpine"]


def test_datasets_filter_by_tags_with_wildcards_and_all_tags_must_match(any_api: Api) -> None:
    create(any_api, "both", tags={"sampleTag": ["123456"], "secondTag": ["sample_tag_value"]})
    create(any_api, "first only", tags={"sampleTag": ["123456"]})
    create(any_api, "test value", tags={"sampleTag": ["test-1"]})
    create(any_api, "untagged")
    assert names(listing(any_api, "dataSets", tags="sampleTag:123456,secondTag:*")) == ["both"]
    assert sorted(names(listing(any_api, "dataSets", tags="sampleTag:*"))) == ["both", "first only", "test value"]
    assert names(listing(any_api, "dataSets", tags="sampleTag:test*")) == ["test value"]
    assert listing(any_api, "dataSets", tags="otherTag:*") == {}


def test_a_listing_parameter_given_twice_is_refused(any_api: Api) -> None:
    response = any_api.get(f"{CATALOG}/dataSets?limit=1&limit=2")
    assert response.status_code == 400
    assert "'limit' is given more than once" in response.json()["errorMessage"]


def test_datasets_of_another_org_are_not_listed(any_api: Api) -> None:
    create(any_api, "mine")
    other = any_api.as_other_client("OTHERORG0000000000000003@AdobeOrg")
    assert other.get(f"{CATALOG}/dataSets").json() == {}


# ---------------------------------------------------------------- batches


def test_batches_are_newest_first_by_default_and_order_by_asc_created(any_api: Api, batches: dict[str, str]) -> None:
    assert labels(batches, listing(any_api, "batches")) == ["e", "d", "c", "b", "a"]
    assert labels(batches, listing(any_api, "batches", orderBy="desc:created")) == ["e", "d", "c", "b", "a"]
    assert labels(batches, listing(any_api, "batches", orderBy="asc:created")) == ["a", "b", "c", "d", "e"]
    assert labels(batches, listing(any_api, "batches", orderBy="status,desc:created")) == ["b", "d", "e", "c", "a"]


def test_batches_filter_by_dataset_and_status(any_api: Api, batches: dict[str, str]) -> None:
    assert labels(batches, listing(any_api, "batches", dataSet=batches["first"])) == ["e", "b", "a"]
    assert labels(batches, listing(any_api, "batches", dataSet=f"!{batches['first']}")) == ["d", "c"]
    assert labels(batches, listing(any_api, "batches", status="success")) == ["e", "c", "a"]
    assert labels(batches, listing(any_api, "batches", status="FAILED,loading")) == ["d", "b"]
    both = listing(any_api, "batches", dataSet=batches["second"], status="success")
    assert labels(batches, both) == ["c"]


def test_batches_filter_by_creation_time_exclusively(any_api: Api, batches: dict[str, str]) -> None:
    assert labels(batches, listing(any_api, "batches", createdAfter="2000")) == ["e", "d", "c"]
    assert labels(batches, listing(any_api, "batches", createdBefore="4000")) == ["c", "b", "a"]
    window = listing(any_api, "batches", createdAfter="1000", createdBefore="5000")
    assert labels(batches, window) == ["d", "c", "b"]
    assert listing(any_api, "batches", createdAfter="5000") == {}


def test_batches_page_with_start_and_limit_and_answer_the_properties_asked_for(
    any_api: Api, batches: dict[str, str]
) -> None:
    assert labels(batches, listing(any_api, "batches", start="1", limit="2")) == ["d", "c"]
    answer = listing(any_api, "batches", limit="1", properties="status,created")
    assert answer == {batches["e"]: {"status": "success", "created": 5000}}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "done"}, "Invalid batch status 'done'; use one of processing, success"),
        ({"createdAfter": "yesterday"}, "'createdAfter' must be an integer"),
        ({"createdBefore": "-5"}, "'createdBefore' must be an integer between 0"),
        ({"limit": "500"}, "'limit' must be an integer between 1 and 100; got 500"),
        ({"orderBy": "desc:"}, "Invalid orderBy 'desc:'"),
        ({"dataSet": "!"}, "'dataSet' needs a value"),
        ({"name": "x"}, "'name' is not supported on GET /batches"),
    ],
)
def test_bad_batch_listing_parameters_are_refused_by_name(
    any_api: Api, batches: dict[str, str], params: dict[str, str], expected: str
) -> None:
    assert expected in refused(any_api, "batches", **params)


def test_batches_filter_by_property_conditions_and_tags(any_api: Api, batches: dict[str, str]) -> None:
    assert labels(batches, listing(any_api, "batches", property="status==success")) == ["e", "c", "a"]
    assert labels(batches, listing(any_api, "batches", property="created>=4000")) == ["e", "d"]
    assert labels(batches, listing(any_api, "batches", property="status~^(failed|loading)$")) == ["d", "b"]
    assert listing(any_api, "batches", tags="any:*") == {}  # batches here carry no tags


def test_batches_of_another_org_are_not_listed(any_api: Api, batches: dict[str, str]) -> None:
    other = any_api.as_other_client("OTHERORG0000000000000004@AdobeOrg")
    assert other.get(f"{CATALOG}/batches").json() == {}
    assert other.get(f"{CATALOG}/batches/{batches['a']}").status_code == 404
