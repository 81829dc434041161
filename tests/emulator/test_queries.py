"""Entity-set reads: paging, $select/$filter/$orderby/$top/$count, annotations, errors — compared with the
verbatim examples of the Web API reference."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from crm_emulator.ids import sql_key

FORMATTED = "OData.Community.Display.V1.FormattedValue"


@pytest.fixture(scope="module")
def api(emulator):
    with emulator.client() as client:
        yield client


def test_paging_100000_accounts_returns_every_id_once_in_primary_key_order(start_emulator):
    big = start_emulator(scale=100_000, seed=3)
    ids: list[str] = []
    pages = 0
    with big.client(timeout=120) as client:
        url = big.api_url + "accounts?$select=accountid"
        while url:
            response = client.get(url, headers={"Prefer": "odata.maxpagesize=5000"})
            assert response.status_code == 200, response.text
            assert response.headers["Preference-Applied"] == "odata.maxpagesize=5000"
            page = response.json()
            ids.extend(row["accountid"] for row in page["value"])
            url = page.get("@odata.nextLink")
            pages += 1
    assert len(ids) == 100_000 and len(set(ids)) == 100_000 and pages == 20
    assert ids == sorted(ids, key=sql_key), "SQL Server uniqueidentifier order"
    assert ids == sorted(ids), "generated ids also sort as strings"


def test_first_page_matches_the_reference_shape_and_nextlink_cookie_format(api, emulator):
    response = api.get("contacts?$select=fullname", headers={"Prefer": "odata.maxpagesize=2"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; odata.metadata=minimal"
    assert response.headers["OData-Version"] == "4.0"
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=2"
    body = response.json()
    assert list(body) == ["@odata.context", "value", "@odata.nextLink"]
    assert body["@odata.context"] == f"{emulator.api_url}$metadata#contacts(fullname)"
    assert [list(row) for row in body["value"]] == [["@odata.etag", "fullname", "contactid"]] * 2
    assert body["value"][0]["@odata.etag"].startswith('W/"')
    link = body["@odata.nextLink"]
    assert link.startswith(f"{emulator.api_url}contacts?$select=fullname&$skiptoken=%3Ccookie%20pagenumber=%222%22%20")
    cookie = unquote(link.split("$skiptoken=")[1])
    inner = unquote(cookie.split('pagingcookie="')[1].split('"')[0])
    last, first = body["value"][1]["contactid"].upper(), body["value"][0]["contactid"].upper()
    assert inner == f'<cookie page="1"><contactid last="{{{last}}}" first="{{{first}}}" /></cookie>'
    assert cookie.endswith('istracking="False" />')
    second = api.get(link, headers={"Prefer": "odata.maxpagesize=2"}).json()
    assert "%22%253ccookie%2520page%253d%25222%2522" in second["@odata.nextLink"]
    assert sql_key(second["value"][0]["contactid"]) > sql_key(body["value"][1]["contactid"])


def test_nulls_are_present_and_money_brings_its_currency(api):
    row = api.get("accounts?$select=name,revenue,accountnumber&$top=50").json()["value"]
    # Generated rows come from the fast path, whose member order is the table's, not the $select's.
    keys = {"@odata.etag", "name", "revenue", "accountnumber", "_transactioncurrencyid_value", "accountid"}
    assert all(next(iter(r)) == "@odata.etag" and set(r) == keys for r in row)
    assert any(r["accountnumber"] is None for r in row) and any(r["revenue"] is None for r in row)


def test_formatted_values_and_lookup_annotations_follow_the_prefer_header(api):
    prefer = 'odata.include-annotations="*"'
    response = api.get(
        "accounts?$select=name,revenue,_ownerid_value,customertypecode,modifiedon&$filter=revenue ne null"
        " and customertypecode ne null&$top=1",
        headers={"Prefer": prefer},
    )
    assert response.headers["Preference-Applied"] == prefer
    row = response.json()["value"][0]
    assert row[f"revenue@{FORMATTED}"].startswith(("$", "€", "£"))
    assert isinstance(row[f"customertypecode@{FORMATTED}"], str)
    assert row["_ownerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] == "ownerid"
    assert row["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] in ("systemuser", "team")
    keys = list(row)
    assert keys.index(f"revenue@{FORMATTED}") == keys.index("revenue") - 1
    only_lookups = api.get(
        "accounts?$select=name,_ownerid_value&$top=2",
        headers={
            "Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.associatednavigationproperty,'
            'Microsoft.Dynamics.CRM.lookuplogicalname"'
        },
    ).json()["value"][0]
    assert list(only_lookups) == [
        "@odata.etag",
        "name",
        "_ownerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty",
        "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname",
        "_ownerid_value",
        "accountid",
    ]


def test_filters_compare_like_dataverse(api):
    rows = api.get(
        "accounts?$select=name,numberofemployees,statecode,address1_city&$filter="
        "(numberofemployees ge 100 and numberofemployees lt 1000) or statecode eq 1"
    ).json()["value"]
    assert rows and all(
        (r["numberofemployees"] is not None and 100 <= r["numberofemployees"] < 1000) or r["statecode"] == 1
        for r in rows
    )
    some = rows[0]["name"]
    word = some.split()[0]
    hits = api.get(f"accounts?$select=name&$filter=contains(name,'{word.upper()}')").json()["value"]
    assert hits and all(word.lower() in r["name"].lower() for r in hits)
    starts = api.get(f"accounts?$select=name&$filter=startswith(name,'{word}') and not endswith(name,'zzz')").json()
    assert all(r["name"].startswith(word) for r in starts["value"])
    nulls = api.get("accounts?$select=address1_city&$filter=address1_city eq null").json()["value"]
    assert nulls and all(r["address1_city"] is None for r in nulls)
    owner = rows[0]
    one = api.get(f"accounts({owner['accountid']})?$select=_ownerid_value").json()
    by_owner = api.get(f"accounts?$select=_ownerid_value&$filter=_ownerid_value eq {one['_ownerid_value']}").json()
    assert by_owner["value"] and all(r["_ownerid_value"] == one["_ownerid_value"] for r in by_owner["value"])
    inn = api.get(
        "accounts?$select=statecode&$filter=Microsoft.Dynamics.CRM.In(PropertyName='statecode',PropertyValues=['1'])"
    ).json()["value"]
    assert inn and all(r["statecode"] == 1 for r in inn)


def test_orderby_top_and_count(api):
    body = api.get("accounts?$select=name,revenue&$orderby=revenue desc,name&$top=20&$count=true").json()
    revenues = [r["revenue"] for r in body["value"]]
    assert len(revenues) == 20 and "@odata.nextLink" not in body
    assert revenues == sorted(revenues, reverse=True) and revenues[0] is not None
    assert body["@odata.count"] == 500
    total = api.get("contacts/$count")
    assert total.headers["Content-Type"].startswith("text/plain") and total.text == "1000"


def test_ordered_paging_on_a_shared_watermark_is_stable(api):
    """cr6f1_project has many rows per modifiedon second: keyset paging on (modifiedon, id) still sees each once."""
    seen: list[tuple[str, str]] = []
    url = "cr6f1_projects?$select=modifiedon&$orderby=modifiedon,cr6f1_projectid"
    while url:
        page = api.get(url, headers={"Prefer": "odata.maxpagesize=7"}).json()
        seen += [(r["modifiedon"], r["cr6f1_projectid"]) for r in page["value"]]
        url = page.get("@odata.nextLink")
    assert len(seen) == len(set(seen)) == 250
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)
    stamps = [s[0] for s in seen]
    assert max(stamps.count(s) for s in set(stamps)) >= 10, "many rows share one modifiedon"


def test_single_record_and_expand(api, emulator):
    first = api.get("accounts?$select=name,_primarycontactid_value&$filter=_primarycontactid_value ne null&$top=1")
    row = first.json()["value"][0]
    one = api.get(f"accounts({row['accountid']})?$select=name&$expand=primarycontactid($select=fullname)").json()
    assert one["@odata.context"] == f"{emulator.api_url}$metadata#accounts(name)/$entity"
    assert one["primarycontactid"]["contactid"] == row["_primarycontactid_value"]
    assert set(one["primarycontactid"]) == {"@odata.etag", "fullname", "contactid"}


@pytest.mark.parametrize(
    ("path", "status", "code", "message"),
    [
        (
            "accounts?$select=bogus",
            400,
            "0x80040203",
            "Could not find a property named 'bogus' on type 'Microsoft.Dynamics.CRM.account'.",
        ),
        (
            "accounts?$select=ownerid",
            400,
            "0x80040203",
            "Could not find a property named 'ownerid' on type 'Microsoft.Dynamics.CRM.account'.",
        ),
        ("accounts?$skip=10", 400, "0x80060888", "The query parameter $skip is not supported"),
        ("accountss", 404, "0x8006088a", "Resource not found for the segment 'accountss'."),
        (
            "accounts(00000000-0000-0000-0000-000000000001)",
            404,
            "0x80040217",
            "account With Id = 00000000-0000-0000-0000-000000000001 Does Not Exist",
        ),
        (
            "accounts?$filter=_ownerid_value eq '00000000-0000-0000-0000-000000000001'",
            400,
            "0x80040203",
            "A binary operator with incompatible types was detected. Found operand types 'Edm.Guid' and 'Edm.String' "
            "for operator kind 'Equal'.",
        ),
    ],
)
def test_errors_use_the_dataverse_error_body(api, path, status, code, message):
    response = api.get(path)
    assert response.status_code == status
    assert response.json() == {"error": {"code": code, "message": message}}


def test_unsupported_features_fail_loudly(api):
    for path in (
        "accounts?$apply=aggregate($count as count)",
        "accounts?fetchXml=%3Cfetch/%3E",
        "accounts?$filter=primarycontactid/fullname eq 'x'",
    ):
        response = api.get(path)
        assert response.status_code == 400, path
        assert set(response.json()["error"]) == {"code", "message"}


def test_writes_create_update_delete_with_etags(api, emulator):
    created = api.post(
        "accounts",
        json={
            "name": "Emulator Test Co",
            "revenue": 1234.5,
            "primarycontactid@odata.bind": "/contacts("
            + api.get("contacts?$top=1&$select=contactid").json()["value"][0]["contactid"]
            + ")",
        },
        headers={"Prefer": "return=representation"},
    )
    assert created.status_code == 201, created.text
    row = created.json()
    assert row["revenue"] == 1234.5 and row["_primarycontactid_value"] and row["statecode"] == 0
    location = created.headers["OData-EntityId"]
    assert location == f"{emulator.api_url}accounts({row['accountid']})"
    stale = row["@odata.etag"]
    assert api.patch(f"accounts({row['accountid']})", json={"name": "Renamed"}).status_code == 204
    assert (
        api.patch(f"accounts({row['accountid']})", json={"name": "x"}, headers={"If-Match": stale}).status_code == 412
    )
    assert api.get(f"accounts({row['accountid']})?$select=name").json()["name"] == "Renamed"
    bad = api.post("accounts", json={"name": "x", "industrycode": 999})
    assert bad.status_code == 400 and "outside the valid range" in bad.json()["error"]["message"]
    assert api.delete(f"accounts({row['accountid']})").status_code == 204
    assert api.get(f"accounts({row['accountid']})").status_code == 404
