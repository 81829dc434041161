"""The wizard's pure rules: the draft's round trip through a query string, the compact mapping, the schedule's
next runs and the interval minimum read from the flow spec's own JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from flowservice.domain.errors import InvalidRequest
from flowservice.domain.schedule import parse_schedule
from flowservice.web.wizard_state import (
    Draft,
    Row,
    check_schedule,
    decode_mapping,
    encode_mapping,
    interval_minimum,
    next_runs,
    start_epoch,
)

SPEC = Path(__file__).resolve().parents[3] / "flowservice" / "specs" / "flows" / "crm-to-aep.json"
COLUMNS = [{"name": "accountid", "type": "string"}, {"name": "name", "type": "string"}, {"name": "x", "type": "long"}]


def test_a_draft_survives_its_query_string_with_booleans_lists_and_defaults_left_out() -> None:
    draft = Draft(conn="c1", tables=("account", "contact"), partial=True, backfill=False, created=("a|flow|f1|ab",))
    query = draft.query()
    assert "dataset=" not in query and "mode=" not in query  # defaults stay out of URLs
    assert Draft.read(parse_qs(query)) == draft
    assert Draft.read({"tables": ["account,contact", "lead"]}).tables == ("account", "contact", "lead")
    assert Draft.read({"backfill": ["no", "yes"]}).backfill is True  # a checked box overrides its hidden "no"
    assert Draft.read({"backfill": ["no"]}).backfill is False


def test_the_recommendation_travels_as_nothing_and_an_edited_mapping_compactly() -> None:
    identity = decode_mapping("", COLUMNS)
    assert encode_mapping(identity, COLUMNS) == ""
    edited = [
        Row("ATTRIBUTE", "accountid", "accountid"),
        Row("EXPRESSION", "lower(name)", "label"),
        Row("ATTRIBUTE", "x", "x", on=False),
    ]
    text = encode_mapping(edited, COLUMNS)
    assert json.loads(text) == ["accountid", ["EXPRESSION", "lower(name)", "label"]]
    back = decode_mapping(text, COLUMNS)
    assert [(r.kind, r.source, r.destination, r.on) for r in back] == [
        ("ATTRIBUTE", "accountid", "accountid", True),
        ("EXPRESSION", "lower(name)", "label", True),
        ("ATTRIBUTE", "name", "name", False),  # columns no mapping reads come back unchecked
        ("ATTRIBUTE", "x", "x", False),
    ]


def test_the_next_runs_follow_start_plus_k_periods_with_and_without_backfill() -> None:
    start = start_epoch("2026-12-03T08:00")
    assert start is not None
    with_backfill = next_runs(start, "hour", 2, True)
    assert [r.at for r in with_backfill][:3] == ["2026-12-03T08:00:00Z", "2026-12-03T10:00:00Z", "2026-12-03T12:00:00Z"]
    assert with_backfill[0].window == "the history up to the start time"
    without = next_runs(start, "hour", 2, False)
    assert without[0].at == "2026-12-03T10:00:00Z" and without[0].window.startswith("2026-12-03T08:00:00Z")
    assert len(next_runs(start, "once", None, True)) == 1


def test_the_interval_minimum_is_the_flow_specs_own_rule_in_the_apis_words() -> None:
    schedule_spec = json.loads(SPEC.read_text())["scheduleSpec"]
    assert interval_minimum(schedule_spec, "minute") == 15
    assert interval_minimum(schedule_spec, "hour") == 1
    assert interval_minimum(schedule_spec, "once") is None
    draft = Draft(frequency="minute", interval="10", start="2026-12-03T08:00")
    problems = check_schedule(draft, interval_minimum(schedule_spec, "minute"))
    with pytest.raises(InvalidRequest) as refused:  # what the API answers for the same scheduleParams
        parse_schedule({"startTime": start_epoch(draft.start), "frequency": "minute", "interval": 10})
    assert problems.by_field == {"interval": refused.value.message}
