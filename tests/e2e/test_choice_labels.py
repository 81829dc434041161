"""Choice labels end to end (issue 15, items 1 and 2): an emulator with CRM semantics (labels in English and
German, global option sets), a running server, explore before any flow, flows landing labels, multi-select lists
and the option-set dataset, DuckDB queries through ``flowservice query``, and a label renamed in the org.

The tests share one stack and run in file order; the last one renames a label in the org."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowservice.client import ApiError
from flowservice.demo import ORG
from flowservice.domain.catalogue import DYNAMICS_SPEC_ID
from tests.e2e.stack import Stack, server_env

ATTRIBUTES = "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM."
SERVICE_LINES = "cr6f1_servicelines"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from tests.fixtures.emulator import launch

    emulator = launch(tmp_path_factory.mktemp("crm-semantics"), scale=120, seed=5, crm_semantics=True)
    stack = Stack(emulator, tmp_path_factory.mktemp("labels") / "server", server_env(emulator))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        emulator.stop()


@pytest.fixture(scope="module")
def connection(stack: Stack) -> str:
    return stack.connection()


def org_labels(stack: Stack, cls: str, column: str, language: int = 1033) -> dict[int, str]:
    """value → label of one account column, read from the emulator's metadata directly."""
    expand = "OptionSet,GlobalOptionSet" if cls in ("Picklist", "MultiSelectPicklist") else "OptionSet"
    with stack.emulator.client() as client:
        doc = client.get(f"{ATTRIBUTES}{cls}AttributeMetadata?$select=LogicalName&$expand={expand}").json()
    item = next(a for a in doc["value"] if a["LogicalName"] == column)
    options = (item.get("GlobalOptionSet") or item["OptionSet"])["Options"]
    return {
        o["Value"]: next(x["Label"] for x in o["Label"]["LocalizedLabels"] if x["LanguageCode"] == language)
        for o in options
    }


def flow_of(
    stack: Stack, connection: str, name: str, params: dict[str, Any], delta: str = "modifiedon"
) -> dict[str, str]:
    api = stack.api
    assert api is not None
    dataset = api.create_dataset(name)
    body = {
        "name": name,
        "baseConnectionId": connection,
        "data": {"format": "tabular"},
        "params": params,
        "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
    }
    source = api.call("POST", "/sourceConnections", json=body)["id"]
    target = api.create_target_connection(name, dataset_id=dataset, write_mode="merge")
    flow = api.create_flow(
        name,
        source_connection_id=source,
        target_connection_id=target.id,
        transformations=[{"name": "Copy", "params": {"deltaColumn": {"name": delta}}}],
        schedule={"startTime": str(int(time.time()) + 86400), "frequency": "day", "interval": "1"},
    )
    return {"flow": flow.id, "dataset": dataset, "name": name}


def run(stack: Stack, flow: dict[str, str]) -> dict[str, Any]:
    result = stack.wait(stack.trigger(flow))
    assert result["metrics"]["statusSummary"]["status"] == "success", result
    return result


def query(stack: Stack, sql: str) -> list[dict[str, Any]]:
    """``flowservice query`` as a user runs it, against the server's data dir."""
    assert stack.server is not None
    try:
        out = stack.server.cli("query", sql, "--org", ORG, "--output", "json")
    except subprocess.CalledProcessError as exc:
        raise AssertionError(f"flowservice query failed: {exc.stderr}") from None
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def explore(stack: Stack, connection: str, **params: str) -> Any:
    assert stack.api is not None
    return stack.api.call("GET", f"/connections/{connection}/explore", params=params)


# ------------------------------------------------------------------------------------------------- explore


def test_explore_lists_the_option_set_table_and_shows_its_schema_and_rows_before_any_flow(
    stack: Stack, connection: str
) -> None:
    tables = explore(stack, connection, objectType="root")
    assert {t["path"] for t in tables} >= {"account", "optionsetmetadata"}
    described = explore(stack, connection, objectType="table", object="optionsetmetadata", preview="true")
    columns = {c["name"]: c["type"] for c in described["schema"]["columns"]}
    assert columns == {
        "optionsetmetadataid": "string",
        "tablename": "string",
        "columnname": "string",
        "value": "integer",
        "label": "string",
        "languagecode": "integer",
        "isglobal": "boolean",
        "optionsetname": "string",
    }
    assert len(described["data"]) == 10
    assert {r["languagecode"] for r in described["data"]} == {1031, 1033}


def test_explore_with_choice_labels_shows_label_columns_and_multi_select_lists_in_schema_and_preview(
    stack: Stack, connection: str
) -> None:
    plain = explore(stack, connection, objectType="table", object="account")
    plain_columns = {c["name"]: c for c in plain["schema"]["columns"]}
    assert "industrycode_label" not in plain_columns  # labels are an option
    assert plain_columns[SERVICE_LINES]["type"] == "array"  # multi-select is a list by default
    labelled = explore(
        stack, connection, objectType="table", object="account", preview="true", previewCount="50", choiceLabels="true"
    )
    columns = {c["name"]: c for c in labelled["schema"]["columns"]}
    names = [c["name"] for c in labelled["schema"]["columns"]]
    assert names.index("industrycode_label") == names.index("industrycode") + 1
    assert columns["industrycode_label"]["type"] == "string"
    assert columns["statecode_label"]["type"] == "string" and columns["statuscode_label"]["type"] == "string"
    assert columns[f"{SERVICE_LINES}_label"]["xdm"] == {"type": "array", "items": {"type": "string"}}
    industry = org_labels(stack, "Picklist", "industrycode")
    lines = org_labels(stack, "MultiSelectPicklist", SERVICE_LINES)
    rows = labelled["data"]
    assert any(r["industrycode"] is not None for r in rows)
    for row in rows:
        assert row["industrycode_label"] == (None if row["industrycode"] is None else industry[row["industrycode"]])
        expected = None if row[SERVICE_LINES] is None else [lines[v] for v in row[SERVICE_LINES]]
        assert row[f"{SERVICE_LINES}_label"] == expected
    german = explore(
        stack,
        connection,
        objectType="table",
        object="account",
        preview="true",
        choiceLabels="true",
        labelLanguage="1031",
    )
    assert {r["statecode_label"] for r in german["data"]} <= {"Aktiv", "Inaktiv"}


def test_explore_refuses_a_bad_choice_option_with_a_flow_service_error(stack: Stack, connection: str) -> None:
    with pytest.raises(ApiError) as caught:
        explore(stack, connection, objectType="table", object="account", choiceLabels="maybe")
    assert caught.value.status_code == 400 and "choiceLabels" in str(caught.value)
    with pytest.raises(ApiError) as caught:
        explore(
            stack,
            connection,
            objectType="table",
            object="account",
            preview="true",
            labelLanguage="1036",
            choiceLabels="true",
        )
    assert caught.value.status_code == 400 and "1036" in str(caught.value)
    assert stack.api is not None
    body = {
        "name": "french labels",
        "baseConnectionId": connection,
        "data": {"format": "tabular"},
        "params": {"tableName": "account", "choiceLabels": True, "labelLanguage": 1036},
        "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
    }
    with pytest.raises(ApiError) as caught:
        stack.api.call("POST", "/sourceConnections", json=body)
    assert caught.value.status_code == 400 and "1036" in str(caught.value) and "1033, 1031" in str(caught.value)


# ------------------------------------------------------------------------------------------------- landing


def test_a_flow_with_choice_labels_lands_labels_and_multi_select_lists_that_duckdb_filters(
    stack: Stack, connection: str
) -> None:
    flow = flow_of(stack, connection, "accounts_labelled", {"tableName": "account", "choiceLabels": True})
    run(stack, flow)
    rows = stack.dataset_rows(flow)
    assert len(rows) == 120
    industry = org_labels(stack, "Picklist", "industrycode")
    states = org_labels(stack, "State", "statecode")
    lines = org_labels(stack, "MultiSelectPicklist", SERVICE_LINES)
    for row in rows:
        assert row["industrycode_label"] == (None if row["industrycode"] is None else industry[row["industrycode"]])
        assert row["statecode_label"] == states[row["statecode"]]
        values = row[SERVICE_LINES]
        assert row[f"{SERVICE_LINES}_label"] == (None if values is None else [lines[v] for v in values])
    wanted = sorted(lines)[0]
    having = sorted(r["accountid"] for r in rows if r[SERVICE_LINES] and wanted in r[SERVICE_LINES])
    assert having  # the emulator's data has some
    found = query(
        stack,
        f"SELECT accountid FROM accounts_labelled WHERE list_contains({SERVICE_LINES}, {wanted}) ORDER BY accountid",
    )
    assert [r["accountid"] for r in found] == having
    by_label = query(
        stack,
        f"SELECT count(*) AS n FROM accounts_labelled WHERE list_contains({SERVICE_LINES}_label, '{lines[wanted]}')",
    )
    assert by_label == [{"n": len(having)}]


def test_the_multi_select_text_option_keeps_the_comma_separated_string(stack: Stack, connection: str) -> None:
    params = {"tableName": "account", "columns": ["name", SERVICE_LINES], "multiSelectFormat": "text"}
    flow = flow_of(stack, connection, "account_text", params)
    run(stack, flow)
    rows = stack.dataset_rows(flow)
    texts = [r[SERVICE_LINES] for r in rows if r[SERVICE_LINES] is not None]
    assert texts and all(isinstance(t, str) and all(p.isdigit() for p in t.split(",")) for t in texts)


def test_the_option_set_dataset_lands_every_label_and_joins_with_a_table_in_duckdb(
    stack: Stack, connection: str
) -> None:
    params = {"tableName": "optionsetmetadata", "optionSetTables": ["account", "lead"]}
    options = flow_of(stack, connection, "optionsets", params, delta="optionsetmetadataid")
    plain = flow_of(stack, connection, "account_plain", {"tableName": "account", "columns": ["name", "industrycode"]})
    run(stack, options)
    run(stack, plain)
    landed = stack.dataset_rows(options)
    industry_de = org_labels(stack, "Picklist", "industrycode", 1031)
    account_industry = {
        r["value"]: r
        for r in landed
        if (r["tablename"], r["columnname"], r["languagecode"]) == ("account", "industrycode", 1031)
    }
    assert {v: r["label"] for v, r in account_industry.items()} == industry_de
    assert all(r["isglobal"] and r["optionsetname"] == "industrycode" for r in account_industry.values())
    assert {r["tablename"] for r in landed} == {"account", "lead"}
    assert len({r["optionsetmetadataid"] for r in landed}) == len(landed)
    joined = query(
        stack,
        "SELECT a.accountid, a.industrycode, o.label FROM account_plain a LEFT JOIN optionsets o "
        "ON o.tablename = 'account' AND o.columnname = 'industrycode' AND o.value = a.industrycode "
        "AND o.languagecode = 1031 ORDER BY a.accountid",
    )
    assert len(joined) == 120
    assert all(r["label"] == (None if r["industrycode"] is None else industry_de[r["industrycode"]]) for r in joined)
    again = run(stack, options)  # every later run reads it in full, as a resync, and changes nothing
    assert again["metrics"]["statusSummary"]["extensions"]["fullResync"]
    assert len(stack.dataset_rows(options)) == len(landed)


def walkthrough_queries() -> list[str]:
    """The SQL of ``flowservice query`` in the walkthrough's choice-label section, as written there."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "walkthrough.md").read_text()
    section = doc[doc.index("## 6. Choice labels") :]
    return re.findall(r'flowservice query "([^"]+)"', section)


def test_the_walkthrough_queries_of_labels_run_as_written_and_agree_with_the_datasets(stack: Stack) -> None:
    sample, count, joined = walkthrough_queries()
    rows = stack.dataset_rows({"name": "accounts_labelled"})
    lines = org_labels(stack, "MultiSelectPicklist", SERVICE_LINES)
    having = [r for r in rows if r[SERVICE_LINES] and 100000003 in r[SERVICE_LINES]]
    found = query(stack, sample)
    assert found and len(found) == min(5, len(having))
    assert all(lines[100000003] in r[f"{SERVICE_LINES}_label"] for r in found)
    managed = [v for v, label in lines.items() if label == "Managed Services"]
    assert list(query(stack, count)[0].values()) == [sum(1 for r in rows if set(managed) & set(r[SERVICE_LINES] or ()))]
    english, german = (org_labels(stack, "Picklist", "industrycode", lang) for lang in (1033, 1031))
    to_german = {english[v]: german[v] for v in english}
    every = query(stack, joined.replace("LIMIT 5", ""))
    assert len(every) == len(rows) and any(r["branche"] for r in every)
    for row in [*query(stack, joined), *every]:  # the German label of each row's value, or none for no value
        assert row["branche"] == (None if row["industrycode_label"] is None else to_german[row["industrycode_label"]])


def test_turning_labels_on_for_a_flow_that_landed_without_them_rewrites_every_row_with_labels(
    stack: Stack, connection: str
) -> None:
    assert stack.api is not None
    flow = flow_of(stack, connection, "contact_later", {"tableName": "contact", "columns": ["lastname", "statecode"]})
    run(stack, flow)
    assert "statecode_label" not in stack.dataset_rows(flow)[0]
    doc = stack.api.call("GET", f"/flows/{flow['flow']}")["items"][0]
    source_id = doc["sourceConnectionIds"][0]
    source = stack.api.call("GET", f"/sourceConnections/{source_id}")["items"][0]
    stack.api.call(
        "PATCH",
        f"/sourceConnections/{source_id}",
        headers={"If-Match": source["etag"]},
        json=[
            {"op": "add", "path": "/params/choiceLabels", "value": True},
            {"op": "add", "path": "/params/labelLanguage", "value": 1031},
            {"op": "add", "path": "/params/columns/-", "value": "statecode_label"},
        ],
    )
    result = run(stack, flow)
    summary = result["metrics"]["statusSummary"]
    notes = {e["code"]: e["message"] for e in summary["errors"]}
    assert "sourceOptions" in notes["CONNECTOR-3002-200"]  # says the source changed, and how
    assert "statecode_label" in notes["CONNECTOR-3004-200"]  # and which column the dataset gained
    rows = stack.dataset_rows(flow)
    states = org_labels(stack, "State", "statecode", 1031).values()
    assert rows and all(r["statecode_label"] in states for r in rows)  # every row, not only changed ones
    with pytest.raises(ApiError) as caught:  # a label column needs labels on
        stack.api.call(
            "PATCH",
            f"/sourceConnections/{source_id}",
            headers={"If-Match": stack.api.call("GET", f"/sourceConnections/{source_id}")["items"][0]["etag"]},
            json=[
                {"op": "replace", "path": "/params/choiceLabels", "value": False},
                {"op": "remove", "path": "/params/labelLanguage"},
            ],
        )
    assert caught.value.status_code == 400 and "statecode_label" in str(caught.value)


# ------------------------------------------------------------------------------------------------- relabel


def test_a_label_renamed_in_the_org_reaches_every_row_and_the_option_set_dataset_on_the_next_run(
    stack: Stack, connection: str
) -> None:
    assert stack.api is not None
    flows = {f["name"]: f["id"] for f in stack.api.call("GET", "/flows")["items"]}
    labelled = {"flow": flows["accounts_labelled"], "name": "accounts_labelled"}
    options = {"flow": flows["optionsets"], "name": "optionsets"}
    rows = stack.dataset_rows(labelled)
    value = next(r["industrycode"] for r in rows if r["industrycode"] is not None)
    untouched = sum(1 for r in rows if r["industrycode"] == value)
    with stack.emulator.client() as client:  # the emulator's admin API, beside the Web API
        answer = client.post(
            f"{stack.emulator.org_url}/_emulator/metadata/account",
            json={"op": "relabel", "column": "industrycode", "value": value, "label": "Bookkeeping"},
        )
    assert answer.status_code == 200, answer.text
    result = run(stack, labelled)
    summary = result["metrics"]["statusSummary"]
    assert summary["extensions"]["fullResync"]  # the run noticed and rewrote the rows, and says why
    assert [e["code"] for e in summary["errors"]] == ["CONNECTOR-3003-200"]
    assert "choice label" in summary["errors"][0]["message"]
    after = stack.dataset_rows(labelled)
    assert len(after) == len(rows)
    renamed = [r for r in after if r["industrycode"] == value]
    assert len(renamed) == untouched and all(r["industrycode_label"] == "Bookkeeping" for r in renamed)
    run(stack, options)
    landed = stack.dataset_rows(options)
    one = [r for r in landed if r["optionsetmetadataid"] in (f"account.industrycode.{value}.1033",)]
    assert [r["label"] for r in one] == ["Bookkeeping"]
    lead = [r for r in landed if r["optionsetmetadataid"] == f"lead.industrycode.{value}.1033"]
    assert [r["label"] for r in lead] == ["Bookkeeping"]  # a global set: every table that uses it
    quiet = run(stack, labelled)  # nothing changed since: an incremental run again
    assert not quiet["metrics"]["statusSummary"]["extensions"].get("fullResync")
