"""CRM semantics the source side builds on (issue 15): localized option-set metadata, global option sets,
the org's base language, and an org reset through the admin API. In-process, through the real ASGI app."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from crm_emulator.app import create_app
from crm_emulator.config import EmulatorConfig

PICKLISTS = "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"


def call(app: Any, requests: list[tuple[str, str, dict[str, Any] | None]]) -> list[httpx.Response]:
    """Send (method, path, json body) in order; paths starting with ``/`` are the emulator's admin API."""

    async def run() -> list[httpx.Response]:
        emu = app.emulator
        token, _ = emu.identity.issue("app")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=emu.config.api_url,
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            out = []
            for method, path, body in requests:
                url = emu.config.org_url + path if path.startswith("/") else path
                out.append(await client.request(method, url, json=body))
            return out

    return asyncio.run(run())


def get(app: Any, *paths: str) -> list[httpx.Response]:
    return call(app, [("GET", p, None) for p in paths])


def semantic_app() -> Any:
    return create_app(EmulatorConfig(scale=50, seed=3, crm_semantics=True))


def test_without_crm_semantics_labels_stay_english_only_and_there_are_no_global_option_sets():
    app = create_app(EmulatorConfig(scale=50, seed=3))
    attrs, sets, orgs = get(
        app, f"{PICKLISTS}?$select=LogicalName&$expand=OptionSet", "GlobalOptionSetDefinitions", "organizations"
    )
    industry = next(a for a in attrs.json()["value"] if a["LogicalName"] == "industrycode")
    assert [label["LanguageCode"] for label in industry["OptionSet"]["Options"][0]["Label"]["LocalizedLabels"]] == [
        1033
    ]
    assert industry["OptionSet"]["IsGlobal"] is False
    assert sets.status_code == 404
    assert orgs.json()["value"] == []


def test_option_labels_come_in_english_and_german_with_the_base_language_as_user_label():
    attrs = get(semantic_app(), f"{PICKLISTS}?$select=LogicalName&$expand=OptionSet,GlobalOptionSet")[0]
    assert attrs.status_code == 200
    by_name = {a["LogicalName"]: a for a in attrs.json()["value"]}
    option = by_name["customertypecode"]["OptionSet"]["Options"][0]
    labels = option["Label"]["LocalizedLabels"]
    assert [label["LanguageCode"] for label in labels] == [1033, 1031]
    assert labels[1]["Label"] != labels[0]["Label"]
    assert option["Label"]["UserLocalizedLabel"]["LanguageCode"] == 1033
    assert option["Label"]["UserLocalizedLabel"]["Label"] == labels[0]["Label"]
    # a local option set has no GlobalOptionSet; a global one is named after the set, not the table
    assert by_name["customertypecode"]["GlobalOptionSet"] is None
    assert by_name["industrycode"]["GlobalOptionSet"]["Name"] == "industrycode"
    assert by_name["industrycode"]["GlobalOptionSet"]["IsGlobal"] is True


def test_state_status_and_multi_select_option_sets_carry_both_languages_too():
    app = semantic_app()
    state, status, multi = get(
        app,
        "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.StateAttributeMetadata?$expand=OptionSet",
        "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.StatusAttributeMetadata?$expand=OptionSet",
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='cr6f1_servicelines')"
        "/Microsoft.Dynamics.CRM.MultiSelectPicklistAttributeMetadata?$expand=OptionSet",
    )
    active = state.json()["value"][0]["OptionSet"]["Options"][0]
    assert {label["LanguageCode"]: label["Label"] for label in active["Label"]["LocalizedLabels"]} == {
        1033: "Active",
        1031: "Aktiv",
    }
    assert status.json()["value"][0]["OptionSet"]["Options"][0]["State"] == 0
    assert multi.json()["OptionSet"]["Options"]
    for option in multi.json()["OptionSet"]["Options"]:
        assert [x["LanguageCode"] for x in option["Label"]["LocalizedLabels"]] == [1033, 1031]


def test_global_option_set_definitions_are_listed_and_addressable_by_name_and_metadata_id():
    app = semantic_app()
    listing = get(app, "GlobalOptionSetDefinitions")[0].json()
    names = {s["Name"] for s in listing["value"]}
    assert {"industrycode", "preferredcontactmethodcode"} <= names
    assert listing["@odata.context"].endswith("$metadata#GlobalOptionSetDefinitions")
    industry = next(s for s in listing["value"] if s["Name"] == "industrycode")
    by_name, by_id, selected, missing = get(
        app,
        "GlobalOptionSetDefinitions(Name='industrycode')",
        f"GlobalOptionSetDefinitions({industry['MetadataId']})",
        "GlobalOptionSetDefinitions(Name='industrycode')?$select=Name,Options",
        "GlobalOptionSetDefinitions(Name='nosuchset')",
    )
    assert by_name.json()["@odata.context"].endswith("/$entity")
    assert by_name.json()["MetadataId"] == by_id.json()["MetadataId"] == industry["MetadataId"]
    assert by_name.json()["@odata.type"] == "#Microsoft.Dynamics.CRM.OptionSetMetadata"
    assert set(selected.json()) == {"@odata.context", "@odata.type", "Name", "Options", "MetadataId"}
    assert [o["Value"] for o in selected.json()["Options"]] == [o["Value"] for o in industry["Options"]]
    assert missing.status_code == 404 and missing.json()["error"]["code"]


def test_the_same_global_option_set_serves_every_table_that_uses_it():
    app = semantic_app()
    account, lead = (
        r.json()
        for r in get(
            app,
            f"{PICKLISTS}?$expand=GlobalOptionSet",
            PICKLISTS.replace("'account'", "'lead'") + "?$expand=GlobalOptionSet",
        )
    )
    a = next(x for x in account["value"] if x["LogicalName"] == "industrycode")["GlobalOptionSet"]
    b = next(x for x in lead["value"] if x["LogicalName"] == "industrycode")["GlobalOptionSet"]
    assert a["MetadataId"] == b["MetadataId"] and a["Options"] == b["Options"]


def test_table_display_names_are_localized_and_the_org_reports_its_base_language():
    app = semantic_app()
    table, orgs, languages = get(
        app,
        "EntityDefinitions(LogicalName='account')?$select=DisplayName",
        "organizations?$select=languagecode",
        "RetrieveProvisionedLanguages",
    )
    assert [x["Label"] for x in table.json()["DisplayName"]["LocalizedLabels"]] == ["Account", "Firma"]
    (org,) = orgs.json()["value"]
    assert org["languagecode"] == 1033 and org["organizationid"]
    assert languages.json()["RetrieveProvisionedLanguages"] == [1033, 1031]


def test_an_org_reset_changes_the_organization_id_and_version_and_old_delta_tokens_fail():
    app = semantic_app()
    who, orgs = get(app, "WhoAmI", "organizations")
    first = asyncio.run(_snapshot_delta_link(app))
    reset, who_after, orgs_after = call(
        app,
        [("POST", "/_emulator/org/reset", {"kind": "copy"}), ("GET", "WhoAmI", None), ("GET", "organizations", None)],
    )
    assert reset.status_code == 200 and reset.json()["last_change"] == "copy"
    assert who_after.json()["OrganizationId"] != who.json()["OrganizationId"]
    assert who_after.json()["OrganizationId"] == orgs_after.json()["value"][0]["organizationid"]
    assert orgs_after.json()["value"][0]["version"] != orgs.json()["value"][0]["version"]
    old = get(app, first)[0]
    assert old.status_code == 400
    assert old.json()["error"]["code"] == "0x80044352"
    # a full sync after the reset gets a token the new org accepts
    fresh = asyncio.run(_snapshot_delta_link(app))
    assert get(app, fresh)[0].status_code == 200


def test_an_org_reset_without_crm_semantics_still_invalidates_delta_tokens_and_rejects_bad_kinds():
    app = create_app(EmulatorConfig(scale=50, seed=3))
    first = asyncio.run(_snapshot_delta_link(app))
    bad, good = call(app, [("POST", "/_emulator/org/reset", {"kind": "nuke"}), ("POST", "/_emulator/org/reset", None)])
    assert bad.status_code == 400 and good.status_code == 200
    assert get(app, first)[0].json()["error"]["code"] == "0x80044352"


async def _snapshot_delta_link(app: Any) -> str:
    """Follow a change-tracking snapshot of accounts to its deltaLink."""
    emu = app.emulator
    token, _ = emu.identity.issue("app")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=emu.config.api_url,
        headers={"Authorization": f"Bearer {token}", "Prefer": "odata.track-changes,odata.maxpagesize=5000"},
    ) as client:
        url = "accounts?$select=name"
        while True:
            body = (await client.get(url)).json()
            if "@odata.deltaLink" in body:
                return str(body["@odata.deltaLink"])
            url = body["@odata.nextLink"]


def entity_type(csdl: bytes, name: str) -> bytes:
    """One table's ``EntityType`` element of a ``$metadata`` document."""
    start = csdl.index(b'<EntityType Name="%s"' % name.encode())
    return csdl[start : csdl.index(b"</EntityType>", start)]


def change(app: Any, table: str, body: dict[str, Any]) -> httpx.Response:
    return call(app, [("POST", f"/_emulator/metadata/{table}", body)])[0]


def attribute(app: Any, table: str, column: str, cast: str = "") -> httpx.Response:
    path = f"EntityDefinitions(LogicalName='{table}')/Attributes(LogicalName='{column}')"
    return get(app, path + (f"/Microsoft.Dynamics.CRM.{cast}" if cast else ""))[0]


def test_an_added_column_appears_in_metadata_and_in_every_existing_row_with_a_value():
    app = create_app(EmulatorConfig(scale=50, seed=3))
    added = change(
        app, "account", {"op": "add", "column": "cr6f1_tier", "type": "String", "max_length": 20, "values": ["A", "B"]}
    )
    assert added.status_code == 200, added.text
    csdl, rows, selected, filtered, attr = get(
        app,
        "$metadata",
        "accounts?$top=40",
        "accounts?$select=cr6f1_tier&$top=40",
        "accounts?$select=name&$filter=cr6f1_tier eq 'A'",
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='cr6f1_tier')"
        "/Microsoft.Dynamics.CRM.StringAttributeMetadata",
    )
    assert b'<Property Name="cr6f1_tier" Type="Edm.String"' in csdl.content
    assert {r["cr6f1_tier"] for r in rows.json()["value"]} == {"A", "B"}
    assert {r["cr6f1_tier"] for r in selected.json()["value"]} == {"A", "B"}
    assert 0 < len(filtered.json()["value"]) < 50
    assert attr.json()["MaxLength"] == 20 and attr.json()["IsCustomAttribute"] is True
    assert attr.json()["ModifiedOn"] != "2019-01-01T00:00:00Z"
    listing = call(app, [("GET", "/_emulator/metadata", None)])[0].json()
    assert listing["metadata_version"] == 1 and listing["changes"][0]["column"] == "cr6f1_tier"


def test_a_deleted_column_leaves_metadata_and_rows_and_cannot_be_selected():
    app = create_app(EmulatorConfig(scale=50, seed=3))
    before = get(app, "accounts?$top=5")[0].json()["value"]
    assert "telephone1" in before[0]
    number = attribute(app, "account", "websiteurl").json()["ColumnNumber"]
    assert change(app, "account", {"op": "delete", "column": "telephone1"}).status_code == 200
    csdl, rows, selected, one, attr = get(
        app,
        "$metadata",
        "accounts?$top=5",
        "accounts?$select=telephone1",
        f"accounts({before[0]['accountid']})",
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='telephone1')",
    )
    assert b'Name="telephone1"' not in entity_type(csdl.content, "account")
    assert b'Name="telephone1"' in entity_type(csdl.content, "contact")
    after = rows.json()["value"]
    assert all("telephone1" not in r for r in after)
    assert [r["name"] for r in after] == [r["name"] for r in before]
    assert selected.status_code == 400
    assert "telephone1" not in one.json() and one.json()["name"] == before[0]["name"]
    assert attr.status_code == 404
    assert attribute(app, "account", "websiteurl").json()["ColumnNumber"] == number


def test_widening_a_string_an_integer_and_a_decimal_shows_in_metadata_and_keeps_values():
    app = create_app(EmulatorConfig(scale=50, seed=3))
    before = get(app, "accounts?$select=name,numberofemployees&$top=5")[0].json()["value"]
    assert change(app, "account", {"op": "widen", "column": "name", "max_length": 400}).status_code == 200
    assert change(app, "account", {"op": "widen", "column": "numberofemployees", "type": "BigInt"}).status_code == 200
    narrowing = change(app, "account", {"op": "widen", "column": "name", "max_length": 10})
    assert narrowing.status_code == 400 and "only grow" in narrowing.json()["error"]
    name = attribute(app, "account", "name", "StringAttributeMetadata").json()
    employees = attribute(app, "account", "numberofemployees").json()
    assert name["MaxLength"] == 400
    assert employees["AttributeType"] == "BigInt"
    csdl, after = get(app, "$metadata", "accounts?$select=name,numberofemployees&$top=5")
    assert b'<Property Name="numberofemployees" Type="Edm.Int64"' in csdl.content
    assert after.json()["value"] == before


def test_renaming_an_option_label_shows_in_option_set_metadata_and_formatted_values():
    app = create_app(EmulatorConfig(scale=50, seed=3, crm_semantics=True))
    sample = get(app, "accounts?$select=industrycode&$filter=industrycode ne null&$top=1")[0].json()["value"]
    value = sample[0]["industrycode"]
    body = {"op": "relabel", "column": "industrycode", "value": value, "label": "Bookkeeping"}
    renamed = change(app, "account", body)
    assert renamed.status_code == 200, renamed.text
    account, lead, global_set = get(
        app,
        f"{PICKLISTS}?$expand=OptionSet",
        PICKLISTS.replace("'account'", "'lead'") + "?$expand=OptionSet",
        "GlobalOptionSetDefinitions(Name='industrycode')",
    )
    for listing in (account.json(), lead.json()):
        industry = next(a for a in listing["value"] if a["LogicalName"] == "industrycode")
        option = next(o for o in industry["OptionSet"]["Options"] if o["Value"] == value)
        assert option["Label"]["UserLocalizedLabel"]["Label"] == "Bookkeeping"
    option = next(o for o in global_set.json()["Options"] if o["Value"] == value)
    assert option["Label"]["LocalizedLabels"][0]["Label"] == "Bookkeeping"
    formatted = asyncio.run(_formatted(app, f"accounts?$select=industrycode&$filter=industrycode eq {value}&$top=3"))
    assert formatted and set(formatted) == {"Bookkeeping"}


def test_metadata_changes_that_make_no_sense_answer_400_with_a_reason():
    app = create_app(EmulatorConfig(scale=50, seed=3))
    for table, body in (
        ("nosuchtable", {"op": "add", "column": "x"}),
        ("account", {"op": "add", "column": "name"}),
        ("account", {"op": "delete", "column": "accountid"}),
        ("account", {"op": "relabel", "column": "industrycode", "value": 999, "label": "x"}),
        ("account", {"op": "explode", "column": "name"}),
    ):
        answer = change(app, table, body)
        assert answer.status_code == 400 and answer.json()["error"], body


async def _formatted(app: Any, path: str) -> list[str]:
    emu = app.emulator
    token, _ = emu.identity.issue("app")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=emu.config.api_url,
        headers={
            "Authorization": f"Bearer {token}",
            "Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"',
        },
    ) as client:
        body = (await client.get(path)).json()
    return [r["industrycode@OData.Community.Display.V1.FormattedValue"] for r in body["value"]]


def test_a_running_emulator_started_with_crm_semantics_serves_labels_drift_and_resets_over_https(start_emulator):
    emu = start_emulator(crm_semantics=True, languages="1033,1036", scale=200, prerender="account")
    with emu.client() as api, httpx.Client(base_url=emu.org_url, verify=emu.verify, timeout=30) as admin:
        assert api.get("RetrieveProvisionedLanguages").json()["RetrieveProvisionedLanguages"] == [1033, 1036]
        labels = api.get("GlobalOptionSetDefinitions(Name='industrycode')").json()["Options"][0]["Label"]
        assert [x["LanguageCode"] for x in labels["LocalizedLabels"]] == [1033, 1036]
        before = api.get("accounts?$top=3").json()["value"]  # served from the pre-rendered store
        added = admin.post(
            "/_emulator/metadata/account", json={"op": "add", "column": "cr6f1_drift", "type": "Integer", "values": [7]}
        )
        assert added.status_code == 200, added.text
        after = api.get("accounts?$top=3").json()["value"]
        assert [r["cr6f1_drift"] for r in after] == [7, 7, 7]
        assert [r["name"] for r in after] == [r["name"] for r in before]
        org_before = api.get("WhoAmI").json()["OrganizationId"]
        assert admin.post("/_emulator/org/reset", json={"kind": "restore"}).json()["generation"] == 1
        assert api.get("WhoAmI").json()["OrganizationId"] != org_before
        assert admin.get("/_emulator/org").json()["last_change"] == "restore"
