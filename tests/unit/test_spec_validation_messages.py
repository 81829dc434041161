"""Schema errors of connection and flow-connection params name the field and what the schema asks, never the
value sent: the value may be a password of the wrong type."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from flowservice.bootstrap import spec_catalog
from flowservice.domain.catalogue import DYNAMICS_SPEC_ID
from flowservice.services.specs import validation_message

SECRET = "hunter2-UNIQUE-0b7e"
SCHEMA = {
    "type": "object",
    "properties": {
        "password": {"type": "string", "format": "password", "minLength": 3, "maxLength": 40, "pattern": "^[^ ]+$"},
        "mode": {"enum": ["merge", "append"]},
        "fixed": {"const": "v1"},
        "count": {"type": "integer", "minimum": 1, "maximum": 10, "multipleOf": 1},
        "tags": {"type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": True},
        "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        "nested": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
    },
    "additionalProperties": False,
}
VALIDATOR = Draft7Validator(SCHEMA)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"password": 123456789}, "The field 'p.password' is invalid: it must be of type string."),
        ({"password": {"v": SECRET}}, "The field 'p.password' is invalid: it must be of type string."),
        ({"password": f"x {SECRET}"}, "The field 'p.password' is invalid: it must match the pattern ^[^ ]+$."),
        ({"password": SECRET * 5}, "The field 'p.password' is invalid: it must be at most 40 characters long."),
        ({"password": "ab"}, "The field 'p.password' is invalid: it must be at least 3 characters long."),
        ({"mode": SECRET}, 'The field \'p.mode\' is invalid: it must be one of "merge", "append".'),
        ({"fixed": SECRET}, "The field 'p.fixed' is invalid: it must be \"v1\"."),
        ({"count": 999999}, "The field 'p.count' is invalid: it must be at most 10."),
        ({"tags": [SECRET, SECRET]}, "The field 'p.tags' is invalid: it must not repeat items."),
        ({"either": [SECRET]}, "The field 'p.either' is invalid: it does not match the schema (oneOf)."),
        ({"nested": {"other": SECRET}}, "The field 'p.nested.name' is required."),
        ({"unknown": SECRET}, "Unknown field in 'p': 'unknown'."),
    ],
)
def test_each_schema_error_names_the_field_and_the_rule_never_the_value(params: dict[str, Any], expected: str) -> None:
    assert validation_message(VALIDATOR, params, "p") == expected


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_a_password_of_any_wrong_shape_is_never_quoted(value: Any) -> None:
    spec = spec_catalog().connection(DYNAMICS_SPEC_ID)
    auth = spec.auth_spec("Basic Authentication for Dynamics-Online")
    wrapped = {"serviceUri": "https://x", "username": "u", "password": [SECRET, value]}
    message = validation_message(auth.validator, wrapped, "auth.params")
    assert message == "The field 'auth.params.password' is invalid: it must be of type string."
    message = validation_message(auth.validator, {**wrapped, "password": {"k": SECRET, "v": value}}, "auth.params")
    assert message is not None and SECRET not in message


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-20, 20) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_FIELDS = st.sampled_from(["password", "mode", "fixed", "count", "tags", "either", "nested", "other"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_FIELDS, _JSON | st.sampled_from(["merge", "v1", "abc", 5, [1], {"name": "x"}]), max_size=5))
def test_the_compiled_fast_path_accepts_exactly_what_jsonschema_accepts(instance: dict[str, Any]) -> None:
    validator = Draft7Validator(SCHEMA)
    assert (validation_message(validator, instance, "params") is None) == validator.is_valid(instance)


def test_a_schema_the_fast_path_cannot_compile_is_still_checked_by_jsonschema() -> None:
    validator = Draft7Validator({"type": "object", "properties": {"when": {"type": "string", "format": "no-such"}}})
    assert validation_message(validator, {"when": "anything"}, "params") is None
    assert (
        validation_message(validator, {"when": 5}, "params")
        == "The field 'params.when' is invalid: it must be of type string."
    )
