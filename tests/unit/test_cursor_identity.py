"""A cursor's identity names the org one way however its address is spelled, and says what changed."""

from __future__ import annotations

from flowservice.domain.schedule import parse_schedule
from flowservice.domain.tenancy import Tenant
from flowservice.services.flow_connections import source_options
from flowservice.services.flows import FlowPlan
from flowservice.services.runs.identity import changed_fields, source_identity
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


def plan_with(params: dict[str, object]) -> FlowPlan:
    return FlowPlan(
        flow_id="f",
        tenant=Tenant("ORG@AdobeOrg", "prod"),
        base_connection_id="c",
        source_connection_id="s",
        target_connection_id="t",
        table="account",
        columns=None,
        delta_column="modifiedon",
        mapping=None,
        dataset_id="d",
        table_path="p",
        write_mode="merge",
        partial_ingestion_percent=None,
        error_diagnostics=False,
        schedule=parse_schedule({"startTime": 1, "frequency": "once"}),
        source_options=source_options(params),
    )


def test_choice_options_are_part_of_the_identity_so_turning_labels_on_or_off_reads_in_full() -> None:
    connection = {"auth": {"params": {"serviceUri": "https://contoso.crm.dynamics.com"}}}
    plain = source_identity(plan_with({"tableName": "account", "primaryKey": "accountid"}), connection)
    labelled = source_identity(plan_with({"tableName": "account", "choiceLabels": True}), connection)
    off = source_identity(plan_with({"tableName": "account", "choiceLabels": False}), connection)
    assert labelled["sourceOptions"] == {"choiceLabels": True}
    assert changed_fields(plain, labelled) == ["sourceOptions"] == changed_fields(labelled, off)
    before = {k: v for k, v in plain.items() if k != "sourceOptions"}  # a commit from before options existed
    assert changed_fields(before, plain) == []
