"""Change tracking: initial snapshot with the deltaLink on the last page, then exactly the changes."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

TRACK = {"Prefer": "odata.track-changes,odata.maxpagesize=200"}


def read_all(client, url: str, headers: dict[str, str]) -> tuple[list[dict], str, list[dict]]:
    rows: list[dict] = []
    pages: list[dict] = []
    while True:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        rows += page["value"]
        if "@odata.nextLink" in page:
            assert "@odata.deltaLink" not in page
            url = page["@odata.nextLink"]
            continue
        return rows, page["@odata.deltaLink"], pages


def test_delta_link_returns_exactly_the_creates_updates_and_deletes(start_emulator):
    emu = start_emulator(scale=300, seed=11)
    with emu.client() as api:
        first = api.get(emu.api_url + "accounts?$select=name,accountnumber", headers=TRACK)
        assert first.headers["Preference-Applied"] == "odata.maxpagesize=200,odata.track-changes"
        rows, delta_link, pages = read_all(api, emu.api_url + "accounts?$select=name,accountnumber", TRACK)
        assert len(rows) == 300 and len(pages) == 2
        assert list(pages[-1])[:2] == ["@odata.context", "@odata.deltaLink"]
        assert delta_link.startswith(emu.api_url + "accounts?$select=name,accountnumber&$deltatoken=")
        version, _, stamp = unquote(delta_link.split("$deltatoken=")[1]).partition("!")
        assert version.isdigit() and len(stamp) == len("08/22/2017 08:10:44")

        created = api.post("accounts", json={"name": "Delta New"}, headers={"Prefer": "return=representation"}).json()
        updated_id, deleted_id = rows[5]["accountid"], rows[7]["accountid"]
        assert api.patch(f"accounts({updated_id})", json={"name": "Delta Updated"}).status_code == 204
        assert api.delete(f"accounts({deleted_id})").status_code == 204
        vanished = api.post(
            "accounts", json={"name": "Short lived"}, headers={"Prefer": "return=representation"}
        ).json()
        assert api.delete(f"accounts({vanished['accountid']})").status_code == 204

        delta = api.get(delta_link)
        body = delta.json()
        assert body["@odata.context"] == f"{emu.api_url}$metadata#accounts(name,accountnumber)/$delta"
        assert list(body)[:2] == ["@odata.context", "@odata.deltaLink"]
        changed = [r for r in body["value"] if "reason" not in r]
        gone = [r for r in body["value"] if "reason" in r]
        assert [r["accountid"] for r in changed] == [created["accountid"], updated_id]
        assert changed[1]["name"] == "Delta Updated" and set(changed[0]) == {
            "@odata.etag",
            "name",
            "accountnumber",
            "accountid",
        }
        assert gone == [
            {
                "@odata.context": f"{emu.api_url}$metadata#accounts/$deletedEntity",
                "id": deleted_id,
                "reason": "deleted",
            },
            {
                "@odata.context": f"{emu.api_url}$metadata#accounts/$deletedEntity",
                "id": vanished["accountid"],
                "reason": "deleted",
            },
        ]
        assert body["value"].index(gone[0]) > body["value"].index(changed[-1]), "upserts come before deletes"
        again = api.get(body["@odata.deltaLink"]).json()
        assert again["value"] == []
        assert api.get(delta_link.replace("accounts?", "accounts/$count?")).text == "4"


def test_expired_or_unknown_delta_tokens_get_0x80044352(emulator):
    with emulator.client() as api:
        for token in (
            "919042%2108%2f22%2f2017%2008%3a10%3a44",
            "garbage",
            "999999999999%2101%2f01%2f2030%2000%3a00%3a00",
        ):
            response = api.get(f"accounts?$deltatoken={token}")
            assert response.status_code == 400
            assert response.json() == {
                "error": {
                    "code": "0x80044352",
                    "message": "Version stamp associated with the client has expired. Please perform a full sync.",
                }
            }


@pytest.mark.parametrize("option", ["$filter=statecode eq 0", "$orderby=name", "$top=5"])
def test_track_changes_rejects_unsupported_options(emulator, option):
    with emulator.client() as api:
        response = api.get(f"accounts?{option}", headers={"Prefer": "odata.track-changes"})
    name = option.split("=")[0]
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.'
    )


def test_track_changes_on_a_table_without_change_tracking_is_rejected(emulator):
    with emulator.client() as api:
        response = api.get("cr6f1_projects", headers={"Prefer": "odata.track-changes"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Entity: cr6f1_project isn't enabled for change tracking."
