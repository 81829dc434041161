"""Catalog's ``property=`` conditions and ``tags=`` filters, as logic: how values compare, what matches a
missing property, and which patterns are refused."""

from __future__ import annotations

import pytest

from flowservice.domain.errors import InvalidRequest
from flowservice.services.catalog_conditions import parse_condition, parse_tags


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        ("version>1.0.3", "1.0.10", True),  # part by part, not as text
        ("version>1.0.3", "1.0.3", False),
        ("version>=1.0.3", "1.0.3", True),
        ("version<1.0.10", "1.0.9", True),
        ("version<2", "10", True),  # plain numbers in text are text unless both are versions
        ("created>1000", 1001, True),
        ("created>1000", 1000, False),
        ("created<=1000.5", 1000, True),
        ("created>many", 5, False),
        ("name>m", "n", True),
        ("name==exampleName", "exampleName", True),
        ("name==exampleName", "examplename", False),
        ("name!=exampleName", "other", True),
        ("name==te*st", "test", True),  # a wildcard matches empty text too
        ("name==te*st", "tempest", True),
        ("name==a**b", "a*b", True),
        ("name==a**b", "axb", False),
        ("description==te*st", "tempest", False),  # wildcards on name only
        ("flag==true", True, True),
        ("name~^ex", "example", True),
        ("name~^ex", "an example", False),
        ("count~1", 1, False),  # a regular expression matches text only
    ],
)
def test_a_condition_compares_values_as_catalog_documents(condition: str, value: object, expected: bool) -> None:
    field = condition.split("=")[0].split("<")[0].split(">")[0].split("~")[0].strip("!")
    assert parse_condition(condition).matches({field: value}) is expected


def test_an_object_without_the_property_matches_no_operator_but_the_missing_one() -> None:
    for condition in ("name==x", "name!=x", "name~x", "name>1", "name"):
        assert parse_condition(condition).matches({}) is False
    assert parse_condition("!name").matches({}) is True
    assert parse_condition("!name").matches({"name": "x"}) is False
    assert parse_condition("tags").matches({"tags": {}}) is True
    assert parse_condition("tags==x").matches({"tags": {"x": ["y"]}}) is False  # objects are not compared


def test_patterns_run_on_re2_so_a_backtracking_one_answers_at_once() -> None:
    condition = parse_condition("name~^(a+)+$")
    assert type(condition.pattern).__module__.startswith("re2")
    # Python's backtracking engine would take longer than the age of the universe on this text
    assert condition.matches({"name": "a" * 5000 + "!"}) is False


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("a.b==x", "only top-level properties"),
        ("!name==x", "'!' before a property takes no operator"),
        ("name=x", "use one of =="),
        ("name>", "'>' needs a value"),
        ("name~(a)\\1", "no backreferences or lookaround"),
        ("name~(?=a)", "no backreferences or lookaround"),
        ("x" * 300, "at most 256 characters"),
    ],
)
def test_a_bad_condition_is_refused_with_what_to_write(condition: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_condition(condition)
    assert message in str(refused.value)


def test_tags_need_every_named_tag_with_a_matching_value() -> None:
    (sample, second) = parse_tags("sampleTag:123*,secondTag:*")
    doc = {"tags": {"sampleTag": ["9", "12345"], "secondTag": [""]}}
    assert sample.matches(doc) and second.matches(doc)
    assert not sample.matches({"tags": {"sampleTag": ["9"]}})
    assert not second.matches({"tags": {}})
    assert not second.matches({"tags": "not an object"})
    with pytest.raises(InvalidRequest, match=r"give \{TAG_NAME\}:\{TAG_VALUE\}"):
        parse_tags("sampleTag")
    with pytest.raises(InvalidRequest, match="at most 20 tags"):
        parse_tags(",".join(f"t{i}:*" for i in range(21)))
