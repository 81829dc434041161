"""Expressions come from tenants: their length, depth and literals are bounded with a clear error at parse time
(so at mapping-set creation), and nothing recurses deep enough to raise ``RecursionError``."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowservice.domain.expressions import (
    MAX_EXPRESSION_DEPTH,
    MAX_EXPRESSION_LENGTH,
    MAX_NUMBER_LENGTH,
    ExpressionError,
    MappingError,
    parse_expression,
)
from flowservice.domain.mapping import MAX_DESTINATION_DEPTH, parse_mapping_set
from flowservice.services.mapping import compile_mapping

SCHEMA = pa.schema(
    [pa.field("a", pa.string()), pa.field("n", pa.int64()), pa.field("b", pa.bool_()), pa.field("x", pa.float64())]
)


def mapping_of(source: str) -> dict:
    return {"mappings": [{"sourceType": "EXPRESSION", "source": source, "destination": "out"}]}


def refusal(source: str) -> str:
    with pytest.raises(MappingError) as caught:
        parse_mapping_set(mapping_of(source))
    return caught.value.message


@pytest.mark.parametrize(
    ("case", "source"),
    [
        ("3,000 nested parentheses", "(" * 3000 + "a" + ")" * 3000),
        ("5,000 negations", "!" * 5000 + "b"),
        ("5,000 unary minus signs", "-" * 5000 + "n"),
        ("a call nested 500 times", "lower(" * 500 + "a" + ")" * 500),
        ("a 100-term || chain", " || ".join(["b"] * 100)),
        ("a 100-term && chain", "&&".join(["b"] * 100)),
    ],
)
def test_an_expression_nested_past_the_depth_limit_is_refused_naming_the_limit(case: str, source: str) -> None:
    message = refusal(source)
    assert f"deeper than {MAX_EXPRESSION_DEPTH} levels" in message, case
    assert len(message) < 300, "the expression is not echoed whole"


def test_a_3000_term_or_chain_is_refused_naming_the_length_limit() -> None:
    message = refusal("||".join(["b"] * 3000))
    assert f"longer than {MAX_EXPRESSION_LENGTH} characters" in message
    assert len(message) < 300


@pytest.mark.parametrize(
    ("case", "source", "expected"),
    [
        ("a 5,000-digit integer", "1" * 5000, f"longer than {MAX_NUMBER_LENGTH} characters"),
        ("a 5,000-digit decimal", "1" * 4000 + "." + "1" * 1000, f"longer than {MAX_NUMBER_LENGTH} characters"),
        ("a double that overflows", "1e999", "out of the range of a double"),
        ("an integer past int64", "9223372036854775808", "out of the 64-bit range"),
        ("a negated integer past int64", "- -9223372036854775808", "out of the 64-bit range"),
        ("a substr start past 2^31", "substr(a, 9223372036854775807, 1)", "must be at most 2147483647"),
    ],
)
def test_number_literals_are_bounded_with_a_clear_error(case: str, source: str, expected: str) -> None:
    assert expected in refusal(source), case


def test_a_static_integer_past_int64_is_refused_at_creation() -> None:
    with pytest.raises(MappingError, match="out of the 64-bit integer range"):
        parse_mapping_set({"mappings": [{"sourceType": "STATIC", "source": 2**64 - 1, "destination": "out"}]})


def test_a_destination_nested_past_the_limit_is_refused_naming_the_limit() -> None:
    body = {"mappings": [{"sourceType": "ATTRIBUTE", "source": "a", "destination": ".".join(["s"] * 5000)}]}
    with pytest.raises(MappingError, match=f"at most {MAX_DESTINATION_DEPTH} path segments"):
        parse_mapping_set(body)


def test_expressions_at_the_limits_parse_compile_and_evaluate() -> None:
    deepest = "(" * (MAX_EXPRESSION_DEPTH - 1) + "n" + ")" * (MAX_EXPRESSION_DEPTH - 1)
    chain = " || ".join(["b"] * MAX_EXPRESSION_DEPTH)
    nested_path = ".".join(["s"] * MAX_DESTINATION_DEPTH)
    body = {
        "mappings": [
            {"sourceType": "EXPRESSION", "source": deepest, "destination": "deep"},
            {"sourceType": "EXPRESSION", "source": chain, "destination": "chain"},
            {"sourceType": "EXPRESSION", "source": "-9223372036854775808", "destination": "smallest"},
            {"sourceType": "EXPRESSION", "source": "9" * (MAX_NUMBER_LENGTH - 2) + ".0", "destination": "big"},
            {"sourceType": "ATTRIBUTE", "source": "a", "destination": nested_path},
        ]
    }
    ms = parse_mapping_set(body)
    out = compile_mapping(ms, SCHEMA)(pa.table({"a": ["x"], "n": [7], "b": [True], "x": [1.0]}, schema=SCHEMA))
    assert out.column("deep").to_pylist() == [7]
    assert out.column("chain").to_pylist() == [True]
    assert out.column("smallest").to_pylist() == [-(2**63)]
    assert out.column("big").to_pylist() == [float("9" * (MAX_NUMBER_LENGTH - 2))]


# Random token soup: anything the tokenizer knows, in any order and nesting.
TOKENS = st.sampled_from(
    [
        "(",
        ")",
        "!",
        "-",
        "||",
        "&&",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        ",",
        " ",
        "a",
        "n",
        "b",
        "x",
        "zz",
        "true",
        "null",
        "0",
        "7",
        "1.5",
        "1e308",
        "1e999",
        "9223372036854775807",
        "9223372036854775808",
        '"s"',
        "'t'",
        '"\\n"',
        "concat(",
        "lower(",
        "substr(",
        "iif(",
        "coalesce(",
        "to_timestamp(",
        "is_null(",
        "nope(",
        "'%Y'",
        '"',
        "\\",
        "#",
        "99999999999999999999999999999999999999999999999999999999999999999",
    ]
)
SOUP = st.lists(TOKENS, max_size=120).map("".join)
NESTED = st.integers(min_value=0, max_value=400).flatmap(
    lambda depth: st.sampled_from(["(", "!", "-", "lower(", "iif(b, "]).map(lambda opener: opener * depth + "a")
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(SOUP, NESTED))
def test_random_expressions_raise_nothing_but_the_domain_error(source: str) -> None:
    try:
        expr = parse_expression(source)
    except ExpressionError:
        return
    assert expr is not None
    try:
        compiled = compile_mapping(parse_mapping_set(mapping_of(source)), SCHEMA)
        compiled(pa.table({"a": ["x", None], "n": [1, None], "b": [True, None], "x": [0.5, None]}, schema=SCHEMA))
    except MappingError:
        return


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "sourceType",
                        "source",
                        "destination",
                        "sourceAttribute",
                        "destinationXdmPath",
                        "identity",
                        "name",
                        "mappings",
                        "outputSchema",
                        "schemaRef",
                        "version",
                        "xdmVersion",
                    ]
                ),
                children,
                max_size=5,
            )
        ),
        max_leaves=20,
    )
)
def test_random_mapping_set_bodies_raise_nothing_but_the_domain_error(body: object) -> None:
    try:
        parse_mapping_set(body if not isinstance(body, dict) else {"mappings": [body], **body})  # type: ignore[arg-type]
    except MappingError:
        pass
