"""A cursor's identity names the org one way however its address is spelled, and says what changed."""

from __future__ import annotations

from flowservice.services.runs.identity import identity_note as _identity_note
from flowservice.services.runs.identity import normalised_uri as _normalised_uri


def test_one_org_has_one_spelling() -> None:
    spellings = [
        "https://Contoso.crm.dynamics.com",
        "https://contoso.crm.dynamics.com/",
        "HTTPS://CONTOSO.CRM.DYNAMICS.COM:443/",
        " https://contoso.crm.dynamics.com ",
    ]
    assert {_normalised_uri(s) for s in spellings} == {"https://contoso.crm.dynamics.com"}
    assert _normalised_uri("https://contoso.crm.dynamics.com:8443") == "https://contoso.crm.dynamics.com:8443"
    assert _normalised_uri("https://fabrikam.crm.dynamics.com") != _normalised_uri("https://contoso.crm.dynamics.com")
    assert _normalised_uri(None) is None and _normalised_uri("") is None


def test_the_note_names_what_changed_and_not_its_values() -> None:
    old = {"org": "https://a.example", "table": "account", "columns": None}
    new = {"org": "https://b.example", "table": "account", "columns": ["name"]}
    note = _identity_note(old, new)
    assert note["code"] == "CONNECTOR-3002-200"
    assert "(columns, org)" in note["message"] and "a.example" not in note["message"]


def test_source_options_join_the_identity_only_when_a_source_connection_has_some() -> None:
    from flowservice.services.runs.identity import source_options

    # a flow without options keeps the identity it always had, so its cursor is resumed after an upgrade
    assert source_options({"tableName": "account", "columns": ["name"], "primaryKey": "accountid"}) == {}
    labelled = source_options({"tableName": "account", "choiceLabels": True, "labelLanguage": 1031})
    assert labelled == {"choiceLabels": True, "labelLanguage": 1031}
    # turning labels off reads in full
    assert source_options({"tableName": "account", "choiceLabels": False}) != labelled
