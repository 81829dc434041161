"""An N:N intersect table (``accountleads``), the activity base table (``activitypointer``) and its party
lists (``activityparty``), with rows (``--activity-tables``): explored with their keys and landed by flows; the
party list lands as a child dataset of the activities, joined to them by ``_activityid_value``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Stack, server_env

TABLES = {  # table: (entity set, key, delta column)
    "accountleads": ("accountleadscollection", "accountleadid", "versionnumber"),
    "activitypointer": ("activitypointers", "activityid", "modifiedon"),
    "activityparty": ("activityparties", "activitypartyid", "versionnumber"),
}


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    emulator = start_emulator(scale=120, seed=3, activity_tables=True)
    stack = Stack(emulator, tmp_path / "server", server_env(emulator, FLOWSERVICE_PAGE_SIZE="50"))
    stack.start()
    yield stack
    stack.stop()


def flow(stack: Stack, connection: str, table: str, delta: str) -> dict[str, str]:
    """``Stack.flow`` with the table's own delta column (intersect tables and party lists have no
    ``modifiedon``: their ``versionnumber`` is the watermark)."""
    api = stack.api
    assert api is not None
    dataset_id = api.create_dataset(table)
    source = api.create_source_connection(table, base_connection_id=connection, table=table)
    target = api.create_target_connection(table, dataset_id=dataset_id, write_mode="merge")
    created = api.create_flow(
        f"{table} merge",
        source_connection_id=source.id,
        target_connection_id=target.id,
        transformations=[{"name": "Copy", "params": {"deltaColumn": {"name": delta}}}],
        schedule={"startTime": str(int(time.time()) + 86400), "frequency": "day", "interval": "1"},
    )
    return {"flow": created.id, "dataset": dataset_id, "name": table, "table": table}


def source_rows(stack: Stack, entity_set: str, key: str) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    with stack.emulator.client() as client:
        url: str | None = entity_set
        while url:
            page = client.get(url, headers={"Prefer": "odata.maxpagesize=5000"}).json()
            rows.update({r[key]: {k: v for k, v in r.items() if "@" not in k} for r in page["value"]})
            url = page.get("@odata.nextLink")
    return rows


def test_explore_lists_the_intersect_activity_and_party_tables_with_their_keys(stack: Stack) -> None:
    api = stack.api
    assert api is not None
    connection = stack.connection()
    listed = {t["path"] for t in api.call("GET", f"/connections/{connection}/explore", params={"objectType": "root"})}
    assert set(TABLES) <= listed
    for table, (_, key, _) in TABLES.items():
        described = api.call(
            "GET", f"/connections/{connection}/explore", params={"objectType": "table", "object": table}
        )
        columns = {c["name"]: c for c in described["schema"]["columns"]}
        assert columns[key]["meta"]["primaryKey"] is True, table
    intersect = api.call(
        "GET", f"/connections/{connection}/explore", params={"objectType": "table", "object": "accountleads"}
    )
    assert {c["name"] for c in intersect["schema"]["columns"]} == {
        "accountleadid",
        "accountid",
        "leadid",
        "versionnumber",
    }


def test_flows_land_the_intersect_table_the_activities_and_their_party_lists_as_a_child_dataset(
    stack: Stack,
) -> None:
    connection = stack.connection()
    flows = {table: flow(stack, connection, table, delta) for table, (_, _, delta) in TABLES.items()}
    for table, created in flows.items():
        run = stack.wait(stack.trigger(created))
        assert run["metrics"]["statusSummary"]["status"] == "success", (table, run)

    landed = {table: {row[TABLES[table][1]]: row for row in stack.dataset_rows(f)} for table, f in flows.items()}
    for table, (entity_set, key, _) in TABLES.items():
        source = source_rows(stack, entity_set, key)
        assert set(landed[table]) == set(source), table
    pairs = {(r["accountid"], r["leadid"]) for r in landed["accountleads"].values()}
    source_pairs = {
        (r["accountid"], r["leadid"]) for r in source_rows(stack, "accountleadscollection", "accountleadid").values()
    }
    assert pairs == source_pairs and len(pairs) == 60

    activities = landed["activitypointer"]
    parties = landed["activityparty"]
    assert len(parties) == 3 * len(activities) == 180
    assert {p["_activityid_value"] for p in parties.values()} == set(activities)  # every party joins its activity
    assert {p["participationtypemask"] for p in parties.values()} == {1, 2, 3}
    assert {p["_partyid_value_lookuplogicalname"] for p in parties.values()} <= {
        "account",
        "contact",
        "lead",
        "systemuser",
    }
    assert {a["activitytypecode"] for a in activities.values()} == {"email", "phonecall", "task", "appointment"}
