"""Through a running server against the emulator: every lookup lands with its target table (from metadata
when it has one target, from Dataverse's annotation when it is polymorphic), a source connection with
``lookupNames`` adds the referenced record's primary name, and money lands with its base amount, exchange
rate and the ISO code of its transaction currency."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Stack, server_env
from tests.fixtures.emulator import launch


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    emulator = launch(tmp_path_factory.mktemp("crm-emulator"), scale=120, seed=5)
    try:
        stack = Stack(emulator, tmp_path_factory.mktemp("server"), server_env(emulator))
        stack.start()
        yield stack
        stack.stop()
    finally:
        emulator.stop()


def flow_with(stack: Stack, table: str, name: str, **params: Any) -> dict[str, str]:
    api = stack.api
    assert api is not None
    dataset_id = api.create_dataset(name)
    source = api.create_source_connection(name, base_connection_id=stack.connection(), table=table, params=params)
    target = api.create_target_connection(name, dataset_id=dataset_id, write_mode="merge")
    flow = api.create_flow(
        name,
        source_connection_id=source.id,
        target_connection_id=target.id,
        transformations=[{"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}}],
        schedule={"startTime": str(int(time.time()) + 86400), "frequency": "day", "interval": "1"},
    )
    return {"flow": flow.id, "dataset": dataset_id, "name": name, "table": table}


def landed(stack: Stack, flow: dict[str, str]) -> dict[str, dict[str, Any]]:
    run = stack.wait(stack.trigger(flow))
    assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
    key = f"{flow['table']}id"
    return {r[key]: r for r in stack.dataset_rows(flow)}


def emulator_rows(stack: Stack, entity_set: str, select: str, **headers: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with stack.emulator.client() as client:
        url: str | None = f"{entity_set}?$select={select}"
        while url:
            page = client.get(url, headers={"Prefer": "odata.maxpagesize=5000", **headers}).json()
            rows.extend(page["value"])
            url = page.get("@odata.nextLink")
    return rows


def test_every_lookup_lands_with_its_target_table_and_names_only_when_asked(stack: Stack) -> None:
    rows = landed(stack, flow_with(stack, "account", "accounts_plain"))
    some = next(iter(rows.values()))
    assert not any(k.endswith("_value_name") for k in some)  # names are opt-in
    with_contact = [r for r in rows.values() if r["_primarycontactid_value"]]
    without = [r for r in rows.values() if not r["_primarycontactid_value"]]
    assert with_contact and without
    assert {r["_primarycontactid_value_lookuplogicalname"] for r in with_contact} == {"contact"}  # one target
    assert {r["_primarycontactid_value_lookuplogicalname"] for r in without} == {None}
    wire = {
        r["accountid"]: r["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"]
        for r in emulator_rows(
            stack, "accounts", "_ownerid_value", Prefer='odata.include-annotations="*",odata.maxpagesize=5000'
        )
    }
    assert {k: r["_ownerid_value_lookuplogicalname"] for k, r in rows.items()} == wire  # polymorphic: as sent


def test_lookup_names_come_with_the_rows_of_full_and_incremental_reads(stack: Stack) -> None:
    flow = flow_with(stack, "contact", "contacts_named", lookupNames=True)
    rows = landed(stack, flow)
    accounts = {r["accountid"]: r["name"] for r in emulator_rows(stack, "accounts", "name")}
    names = accounts | {r["contactid"]: r["fullname"] for r in emulator_rows(stack, "contacts", "fullname")}
    parents = [r for r in rows.values() if r["_parentcustomerid_value"]]
    assert parents
    for row in parents:
        assert row["_parentcustomerid_value_name"] == names[row["_parentcustomerid_value"]]
        assert row["_parentcustomerid_value_lookuplogicalname"] in {"account", "contact"}
    assert all(r["_parentcustomerid_value_name"] is None for r in rows.values() if not r["_parentcustomerid_value"])
    account_id, account_name = next((k, v) for k, v in sorted(accounts.items()) if v)
    changed = sorted(rows)[0]
    with stack.emulator.client() as client:
        body = {"parentcustomerid_account@odata.bind": f"/accounts({account_id})"}
        client.patch(f"contacts({changed})", json=body).raise_for_status()
    again = landed(stack, flow)  # an incremental read: the annotation comes with change tracking too
    assert again[changed]["_parentcustomerid_value"] == account_id
    assert again[changed]["_parentcustomerid_value_name"] == account_name
    assert again[changed]["_parentcustomerid_value_lookuplogicalname"] == "account"


def test_money_lands_with_its_base_amount_exchange_rate_and_currency_code(stack: Stack) -> None:
    rows = landed(stack, flow_with(stack, "account", "accounts_money"))
    codes = {
        r["transactioncurrencyid"]: r["isocurrencycode"]
        for r in emulator_rows(stack, "transactioncurrencies", "transactioncurrencyid,isocurrencycode")
    }
    wire = {r["accountid"]: r for r in emulator_rows(stack, "accounts", "revenue,revenue_base,exchangerate")}
    with_money = [r for r in rows.values() if r["revenue"] is not None]
    assert with_money
    for row in rows.values():
        sent = wire[row["accountid"]]
        currency = row["_transactioncurrencyid_value"]
        assert row["_transactioncurrencyid_value_isocurrencycode"] == (codes[currency] if currency else None)
        for column in ("revenue", "revenue_base", "exchangerate"):
            value = sent[column]
            assert row[column] == (None if value is None else Decimal(str(value))), column
    assert len({r["_transactioncurrencyid_value_isocurrencycode"] for r in with_money} - {None}) >= 1


def documented_queries() -> list[str]:
    """The SQL of each ``flowservice query`` in the walkthrough's *Lookup names in DuckDB* section."""
    text = (Path(__file__).parents[2] / "docs" / "walkthrough.md").read_text()
    section = text.split("## Lookup names in DuckDB", 1)[1].split("\n## ", 1)[0]
    return re.findall(r'flowservice query "(.+?)" --org', section, flags=re.S)


def test_the_walkthrough_queries_of_lookup_names_and_currencies_answer_from_the_datasets(stack: Stack) -> None:
    accounts = flow_with(stack, "account", "accounts")
    contacts = flow_with(stack, "contact", "contacts", lookupNames=True)
    landed(stack, accounts)
    rows = landed(stack, contacts)
    queries = documented_queries()
    assert len(queries) == 3
    grouped, joined, money = (stack.query(sql) for sql in queries)
    assert grouped and {r["kind"] for r in grouped} <= {"account", "contact"}
    top = grouped[0]
    assert top["contacts"] == sum(
        1
        for r in rows.values()
        if r["_parentcustomerid_value_name"] == top["customer"]
        and r["_parentcustomerid_value_lookuplogicalname"] == top["kind"]
    )
    assert joined and all(r["account_now"] == r["account_then"] for r in joined)  # nothing renamed yet
    assert money and all(len(r["currency"]) == 3 for r in money if r["currency"] is not None)
