"""docs/walkthrough.md as a test: API calls only, from connection to a dataset equal to the org's table."""

from __future__ import annotations

import decimal
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID as CRM_FLOW_SPEC
from flowservice.domain.catalogue import DATA_LAKE_SPEC_ID as LAKE_SPEC
from flowservice.domain.catalogue import DYNAMICS_SPEC_ID as DYNAMICS_SPEC
from tests.e2e.stack import Stack, iso, server_env

MAPPING = [
    {"sourceType": "ATTRIBUTE", "source": "accountid", "destination": "accountid"},
    {"sourceType": "ATTRIBUTE", "source": "name", "destination": "name"},
    {"sourceType": "EXPRESSION", "source": "lower(trim(name))", "destination": "name_key"},
    {"sourceType": "ATTRIBUTE", "source": "revenue", "destination": "revenue"},
    {"sourceType": "ATTRIBUTE", "source": "numberofemployees", "destination": "employees"},
    {"sourceType": "ATTRIBUTE", "source": "modifiedon", "destination": "modifiedon"},
]


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    emulator = start_emulator(scale=4000, seed=5)
    stack = Stack(emulator, tmp_path / "server", server_env(emulator))
    stack.start()
    yield stack
    stack.stop()


def number(value: Any) -> str | None:
    return None if value is None else str(decimal.Decimal(str(value)).normalize())


def checksum(rows: list[tuple]) -> str:
    return hashlib.sha256(repr(sorted(rows, key=lambda r: r[0])).encode()).hexdigest()


def test_the_walkthrough_lands_a_dataset_equal_to_the_org_table(stack: Stack) -> None:
    api = stack.api
    assert api is not None
    connection = stack.connection()
    assert api.call("GET", f"/connections/{connection}/test") == {"result": True}
    assert len(api.call("GET", f"/connections/{connection}/explore", params={"objectType": "root"})) >= 500
    source = api.call(
        "POST",
        "/sourceConnections",
        json={
            "name": "accounts",
            "baseConnectionId": connection,
            "data": {"format": "tabular"},
            "params": {"tableName": "account"},
            "connectionSpec": {"id": DYNAMICS_SPEC, "version": "1.0"},
        },
    )
    dataset = api.call("POST", "/data/foundation/catalog/dataSets", json={"name": "accounts"})[0].split("/")[-1]
    target = api.call(
        "POST",
        "/targetConnections",
        json={
            "name": "accounts",
            "data": {"format": "delta"},
            "params": {"dataSetId": dataset},
            "connectionSpec": {"id": LAKE_SPEC, "version": "1.0"},
        },
    )
    mapping = api.call("POST", "/data/foundation/conversion/mappingSets", json={"mappings": MAPPING})
    flow = api.call(
        "POST",
        "/flows",
        json={
            "name": "accounts",
            "flowSpec": {"id": CRM_FLOW_SPEC, "version": "1.0"},
            "sourceConnectionIds": [source["id"]],
            "targetConnectionIds": [target["id"]],
            "transformations": [
                {"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}},
                {"name": "Mapping", "params": {"mappingId": mapping["id"], "mappingVersion": 0}},
            ],
            "scheduleParams": {"startTime": "1612310466", "frequency": "once"},
        },
    )
    run = stack.wait(str(api.call("POST", "/runs", json={"flowId": flow["id"]})["id"]))
    assert run["metrics"]["statusSummary"]["status"] == "success"

    expected: list[tuple] = []
    with stack.emulator.client() as client:
        url: str | None = "accounts?$select=accountid,name,revenue,numberofemployees,modifiedon"
        while url:
            page = client.get(url, headers={"Prefer": "odata.maxpagesize=5000"}).json()
            for r in page["value"]:
                key = r["name"].strip().lower() if r["name"] is not None else None
                expected.append(
                    (r["accountid"], r["name"], key, number(r["revenue"]), r["numberofemployees"], iso(r["modifiedon"]))
                )
            url = page.get("@odata.nextLink")
    rows = stack.dataset_rows({"name": "accounts"})
    landed = [
        (r["accountid"], r["name"], r["name_key"], number(r["revenue"]), r["employees"], iso(r["modifiedon"]))
        for r in rows
    ]
    assert len(landed) == len(expected) == 4000
    assert checksum(landed) == checksum(expected)
