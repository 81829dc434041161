"""``GET /data/foundation/export/datasets/{id}/preview``: the first landed rows of a dataset, as the query reads them.

Runs land real Delta tables through the engine (the working fake source); the preview is compared with what
``flowservice query`` computes over the same dataset (``Container.query``, the function the command calls).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowservice.services import export
from flowservice.services.explore_format import arrow_to_json_rows
from flowservice.settings import Settings
from tests.fakes.source import FakeOrg
from tests.fixtures.server import make_api
from tests.integration.engine.conftest import Flow, Harness

PREVIEW = "/data/foundation/export/datasets/{}/preview"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    org = FakeOrg()
    api = make_api(Settings(data_dir=tmp_path / "data", commit_every_rows=50, page_size=25), sources=org)
    yield Harness(api, org)
    assert api.container is not None
    api.container.close()


def queried(harness: Harness, flow: Flow, limit: int = 100) -> list[dict[str, Any]]:
    """What ``flowservice query 'SELECT * FROM <dataset> LIMIT n'`` returns, as JSON values."""
    table = harness.container.query(harness.api.org, "prod", f'SELECT * FROM "{flow.dataset_name}" LIMIT {limit}')
    return arrow_to_json_rows(table)


def test_the_preview_of_a_merge_dataset_is_the_first_hundred_rows_the_query_returns(harness: Harness) -> None:
    harness.org.add_table("account", rows=130)
    flow = harness.flow("account")
    harness.run(flow)
    answer = harness.api.call("GET", PREVIEW.format(flow.dataset_id))
    assert answer["data"] == queried(harness, flow)
    assert len(answer["data"]) == 100 and answer["_page"] == {"limit": 100, "count": 100, "truncated": False}
    assert {c["name"] for c in answer["columns"]} == {"accountid", "name", "revenue", "modifiedon"}
    first = answer["data"][0]
    assert isinstance(first["revenue"], str) and first["modifiedon"].endswith("Z")  # decimals keep precision
    five = harness.api.call("GET", PREVIEW.format(flow.dataset_id), params={"limit": "5"})
    assert five["data"] == queried(harness, flow, 5)


def test_the_preview_of_an_append_dataset_shows_each_version_with_its_change_columns(harness: Harness) -> None:
    table = harness.org.add_table("contact", rows=6)
    flow = harness.flow("contact", mode="append")
    harness.run(flow)
    table.delete("00000002-0000-0000-0000-000000000000")
    harness.run(flow)
    rows = harness.api.call("GET", PREVIEW.format(flow.dataset_id))["data"]
    assert rows == queried(harness, flow)
    assert len(rows) == 7
    assert sorted(r["_change_type"] for r in rows) == ["delete"] + ["upsert"] * 6
    assert all(r["_change_time"].endswith("Z") for r in rows)  # a UTC timestamp


def test_a_dataset_nothing_has_landed_in_previews_as_no_rows(harness: Harness) -> None:
    created = harness.api.post("/data/foundation/catalog/dataSets", json={"name": "still empty"})
    dataset_id = created.json()[0].split("/")[-1]
    answer = harness.api.call("GET", PREVIEW.format(dataset_id))
    assert answer["data"] == [] and answer["_page"]["count"] == 0


def test_a_dataset_of_another_sandbox_or_org_is_not_found(harness: Harness) -> None:
    harness.org.add_table("account", rows=3)
    flow = harness.flow("account")
    harness.run(flow)
    harness.container.identity.create_sandbox(harness.api.org, "dev")
    in_dev = harness.api.get(PREVIEW.format(flow.dataset_id), header_overrides={"x-sandbox-name": "dev"})
    assert in_dev.status_code == 404, in_dev.text
    assert in_dev.json()["type"].endswith("FLOW-1101-404")
    other = harness.api.as_other_client("OTHER0123456789ABCDEF01@AdobeOrg")
    assert other.get(PREVIEW.format(flow.dataset_id)).status_code == 404
    assert harness.api.get(PREVIEW.format("0123456789abcdef01234567")).status_code == 404


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_a_limit_outside_one_to_a_hundred_is_refused_naming_the_bounds(harness: Harness, limit: str) -> None:
    created = harness.api.post("/data/foundation/catalog/dataSets", json={"name": "any"})
    dataset_id = created.json()[0].split("/")[-1]
    refused = harness.api.get(PREVIEW.format(dataset_id), params={"limit": limit})
    assert refused.status_code == 400
    assert "between 1 and 100" in refused.json()["errorMessage"]


def test_rows_stop_at_the_byte_bound_and_the_answer_says_it_was_cut(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.org.add_table("account", rows=20)
    flow = harness.flow("account")
    harness.run(flow)
    whole = harness.api.call("GET", PREVIEW.format(flow.dataset_id))
    assert whole["_page"]["truncated"] is False and len(whole["data"]) == 20
    monkeypatch.setattr(export, "MAX_BYTES", 1000)
    cut = harness.api.call("GET", PREVIEW.format(flow.dataset_id))
    assert cut["_page"]["truncated"] is True
    assert 0 < len(cut["data"]) < 20 and cut["data"] == whole["data"][: len(cut["data"])]


def test_the_preview_needs_a_token_and_is_in_the_openapi_document_with_the_identity_headers(harness: Harness) -> None:
    refused = harness.api.get(PREVIEW.format("x"), header_overrides={"Authorization": None})
    assert refused.status_code == 401
    paths = harness.api.http.get("/openapi.json").json()["paths"]
    operation = paths["/data/foundation/export/datasets/{dataset_id}/preview"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"Authorization", "x-api-key", "x-gw-ims-org-id", "x-sandbox-name", "limit"} <= names
