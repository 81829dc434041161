"""``POST /mappingSets/validate`` and ``/preview``: the mapping engine of runs, answering without storing.

Through the API in-process on real SQLite, the working fake source (its ``account`` table has a decimal and a
timestamp column) and real Delta tables: a preview on explore's own schema and rows equals what a run lands.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowservice.services.explore_format import arrow_to_json_rows
from flowservice.settings import Settings
from tests.fakes.source import FakeOrg
from tests.fixtures.server import Api, make_api
from tests.integration.engine.conftest import Harness

MAPPING_SETS = "/data/foundation/conversion/mappingSets"
MAPPINGS = [
    {"sourceType": "ATTRIBUTE", "source": "accountid", "destination": "id"},
    {"sourceType": "EXPRESSION", "source": "lower(trim(name))", "destination": "label"},
    {"sourceType": "ATTRIBUTE", "source": "revenue", "destination": "revenue"},
    {"sourceType": "ATTRIBUTE", "source": "modifiedon", "destination": "modifiedon"},
    {"sourceType": "STATIC", "source": "dynamics", "destination": "origin"},
]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    org = FakeOrg()
    org.add_table("account", rows=7)
    api = make_api(Settings(data_dir=tmp_path / "data", commit_every_rows=25, page_size=10), sources=org)
    yield Harness(api, org)
    assert api.container is not None
    api.container.close()


def explore(harness: Harness) -> dict[str, Any]:
    """Explore's answer for ``account`` with its preview rows: what the wizard holds when it previews."""
    params = {"objectType": "table", "object": "account", "preview": "true", "previewCount": "100"}
    response = harness.api.get(f"/connections/{harness.connection_id}/explore", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def code_of(response: Any) -> str:
    return str(response.json()["type"].rsplit("/", 1)[-1])


def mapping_count(api: Api) -> int:
    return int(api.get(MAPPING_SETS).json()["_page"]["totalCount"])


def test_validate_finds_a_bad_expression_and_an_unknown_column_and_stores_nothing(harness: Harness) -> None:
    schema = explore(harness)["schema"]
    mappings = [
        {"sourceType": "ATTRIBUTE", "source": "accountid", "destination": "id"},
        {"sourceType": "EXPRESSION", "source": "lower(name", "destination": "label"},
        {"sourceType": "ATTRIBUTE", "source": "nmae", "destination": "name"},
        {"sourceType": "ATTRIBUTE", "source": "modifiedon", "destination": "modifiedon"},
    ]
    response = harness.api.post(f"{MAPPING_SETS}/validate", json={"mappings": mappings, "sourceSchema": schema})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "FAILED"
    statuses = [entry["status"] for entry in answer["validationResponse"]]
    assert statuses == ["SUCCESS", "FAILED", "FAILED", "SUCCESS"]
    assert answer["validationResponse"][0]["errors"] is None
    [bad_expression] = answer["validationResponse"][1]["errors"]
    assert bad_expression["exception"].startswith("mappings[1].source:")
    assert "position" in bad_expression["exception"]
    assert bad_expression["destination"] == "label" and bad_expression["sourceType"] == "EXPRESSION"
    [unknown] = answer["validationResponse"][2]["errors"]
    assert unknown["columnName"] == "nmae"
    assert unknown["exception"].startswith("mappings[2].source: unknown source column 'nmae'")
    assert "did you mean 'name'" in unknown["exception"]
    assert mapping_count(harness.api) == 0


def test_validate_accepts_a_good_set_and_names_a_primary_key_the_mapping_drops(harness: Harness) -> None:
    schema = explore(harness)["schema"]
    good = harness.api.post(f"{MAPPING_SETS}/validate", json={"mappings": MAPPINGS, "sourceSchema": schema})
    assert good.status_code == 200, good.text
    assert good.json()["status"] == "SUCCESS"
    assert [e["errors"] for e in good.json()["validationResponse"]] == [None] * len(MAPPINGS)
    without_key = harness.api.post(f"{MAPPING_SETS}/validate", json={"mappings": MAPPINGS[1:], "sourceSchema": schema})
    assert without_key.json()["status"] == "FAILED"
    assert without_key.json()["errors"] == [
        {
            "columnName": "accountid",
            "exception": "The mapping must copy the primary key 'accountid' to a top-level field.",
        }
    ]
    typed = [{"sourceType": "EXPRESSION", "source": "upper(revenue)", "destination": "x"}]
    wrong_type = harness.api.post(f"{MAPPING_SETS}/validate", json={"mappings": typed, "sourceSchema": schema})
    [error] = wrong_type.json()["validationResponse"][0]["errors"]
    assert "upper() expects text" in error["exception"]


def test_validate_refuses_a_body_that_is_not_a_mapping_set_and_finds_duplicates_per_mapping(harness: Harness) -> None:
    empty = harness.api.post(f"{MAPPING_SETS}/validate", json={"mappings": []})
    assert empty.status_code == 400 and code_of(empty) == "FLOW-1419-400"
    twice = [
        {"sourceType": "ATTRIBUTE", "source": "name", "destination": "label"},
        {"sourceType": "STATIC", "source": "x", "destination": "LABEL"},
    ]
    answer = harness.api.post(f"{MAPPING_SETS}/validate", json={"mappings": twice}).json()
    assert [e["status"] for e in answer["validationResponse"]] == ["SUCCESS", "FAILED"]
    assert "duplicates mappings[0]" in answer["validationResponse"][1]["errors"][0]["exception"]


def test_a_preview_on_explores_rows_equals_what_a_run_lands(harness: Harness) -> None:
    explored = explore(harness)
    body = {"mappingSet": {"mappings": MAPPINGS}, "sourceSchema": explored["schema"], "data": explored["data"]}
    response = harness.api.post(f"{MAPPING_SETS}/preview", json=body)
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["errors"] == [] and preview["counts"] == {"input": 7, "mapped": 7, "failed": 0}
    assert preview["data"][0]["label"] == "account 0"
    assert [c["name"] for c in preview["outputSchema"]["columns"]] == ["id", "label", "revenue", "modifiedon", "origin"]
    assert mapping_count(harness.api) == 0

    flow = harness.flow("account", mapping=MAPPINGS)
    harness.run(flow)
    path = harness.container.catalog.dataset(harness.tenant, flow.dataset_id).doc["lake"]["path"]
    landed = arrow_to_json_rows(harness.container.lake.read(path))
    by_id = {row["id"]: {k: row[k] for k in preview["data"][0]} for row in landed}
    assert sorted(preview["data"], key=lambda r: r["id"]) == [by_id[k] for k in sorted(by_id)]
    assert {row["revenue"] for row in preview["data"]} >= {"0.2500", "1.5000"}  # the decimal's scale, as landed


def test_a_preview_reports_rows_without_a_key_and_values_of_another_type_row_by_row(harness: Harness) -> None:
    explored = explore(harness)
    rows = [dict(r) for r in explored["data"][:3]]
    rows[1]["accountid"] = None
    rows[2]["modifiedon"] = "not a time"
    body = {"mappingSet": {"mappings": MAPPINGS}, "sourceSchema": explored["schema"], "data": rows}
    preview = harness.api.post(f"{MAPPING_SETS}/preview", json=body).json()
    assert preview["data"][0] is not None and preview["data"][1] is None and preview["data"][2] is None
    assert [(e["row"], e["code"], e["columnName"]) for e in preview["errors"]] == [
        (1, "INGEST-1201-400", "accountid"),
        (2, "FLOW-1419-400", "modifiedon"),
    ]
    assert preview["errors"][0]["exception"] == "The record has no value for the primary key 'accountid'."
    assert preview["counts"] == {"input": 3, "mapped": 1, "failed": 2}


def test_a_preview_without_a_schema_types_the_rows_from_their_values(harness: Harness) -> None:
    mapping = {"sourceType": "EXPRESSION", "source": 'concat(code, "-", n)', "destination": "k"}
    body = {"mappingSet": {"mappings": [mapping]}, "data": {"code": "A", "n": 1}}
    preview = harness.api.post(f"{MAPPING_SETS}/preview", json=body).json()
    assert preview["data"] == [{"k": "A-1"}]


def test_a_preview_is_bounded_and_refuses_an_invalid_set_with_the_mapping_error(harness: Harness) -> None:
    too_many = {"mappingSet": {"mappings": MAPPINGS}, "data": [{"accountid": str(i)} for i in range(101)]}
    response = harness.api.post(f"{MAPPING_SETS}/preview", json=too_many)
    assert response.status_code == 400 and code_of(response) == "FLOW-1419-400"
    assert "at most 100" in response.json()["errorMessage"]
    rows = [{"accountid": "x" * 20_100} for _ in range(50)]  # over the preview's limit, within the 1 MiB body limit
    big = {"mappingSet": {"mappings": MAPPINGS}, "data": rows}
    assert "at most 1000000" in harness.api.post(f"{MAPPING_SETS}/preview", json=big).json()["errorMessage"]
    nope = {"sourceType": "ATTRIBUTE", "source": "nope", "destination": "x"}
    unknown = {"mappingSet": {"mappings": [nope]}, "data": [{"accountid": "1"}]}
    refused = harness.api.post(f"{MAPPING_SETS}/preview", json=unknown)
    assert refused.status_code == 400 and "unknown source column 'nope'" in refused.json()["errorMessage"]
    missing = harness.api.post(f"{MAPPING_SETS}/preview", json={"data": [{"a": 1}]})
    assert missing.status_code == 400 and "mappingSet" in missing.json()["errorMessage"]
