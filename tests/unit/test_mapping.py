"""Mapping sets: both request forms, their errors, and the expression parser."""

from __future__ import annotations

import pytest

from flowservice.domain.errors import InvalidRequest
from flowservice.domain.expressions import (
    BinaryOp,
    Call,
    ColumnRef,
    ExpressionError,
    Literal,
    MappingError,
    UnaryOp,
    parse_expression,
    strptime_format,
)
from flowservice.domain.mapping import SourceType, parse_mapping_set
from flowservice.services.mapping import compile_mapping
from tests.unit.mapping_examples import CONTACT_SCHEMA, expr, new_form

# ------------------------------------------------------------------------------------------ request forms


def test_old_form_with_source_attribute_and_destination_xdm_path_is_accepted():
    body = {
        "version": 0,
        "xdmSchema": "https://ns.adobe.com/acme/schemas/52b5",
        "xdmVersion": "1.0",
        "id": None,
        "mappings": [
            {
                "destinationXdmPath": "_id",
                "sourceAttribute": "contactid",
                "identity": False,
                "identityGroup": None,
                "namespaceCode": None,
                "version": 0,
            },
            {
                "destinationXdmPath": "person.name.fullName",
                "sourceAttribute": "fullname",
                "identity": False,
                "identityGroup": None,
                "namespaceCode": None,
                "version": 0,
            },
        ],
    }
    ms = parse_mapping_set(body)
    assert ms.schema_ref == "https://ns.adobe.com/acme/schemas/52b5"
    assert ms.xdm_version == "1.0"
    assert ms.version == 0
    assert [m.source_type for m in ms.mappings] == [SourceType.ATTRIBUTE, SourceType.ATTRIBUTE]
    assert ms.mappings[1].path == ("person", "name", "fullName")
    assert ms.mappings[1].expr == ColumnRef("fullname")


def test_old_form_source_holding_a_call_is_read_as_an_expression():
    ms = parse_mapping_set(
        {
            "mappings": [
                {
                    "destinationXdmPath": "b2b.personKey.sourceKey",
                    "sourceAttribute": 'concat(contactid,"@${CRM_ORG_ID}.Dynamics")',
                }
            ]
        }
    )
    m = ms.mappings[0]
    assert m.source_type is SourceType.EXPRESSION
    assert m.expr == Call("concat", (ColumnRef("contactid"), Literal("@${CRM_ORG_ID}.Dynamics")))


def test_new_form_with_output_schema_and_source_types_is_accepted():
    ms = parse_mapping_set(
        new_form(
            {
                "sourceType": "ATTRIBUTE",
                "source": "contactid",
                "destination": "_id",
                "name": "id",
                "description": "Identifier field",
            },
            {"sourceType": "STATIC", "source": "Dynamics", "destination": "source"},
            {"sourceType": "EXPRESSION", "source": "lower(emailaddress1)", "destination": "email"},
        )
    )
    assert ms.schema_ref == "https://ns.adobe.com/acme/schemas/abc"
    assert ms.schema_content_type == "application/vnd.adobe.xed-full+json;version=1"
    assert ms.mappings[0].name == "id"
    assert ms.mappings[0].description == "Identifier field"
    assert ms.mappings[1].expr == Literal("Dynamics")
    assert ms.mappings[2].expr == Call("lower", (ColumnRef("emailaddress1"),))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("attribute", SourceType.ATTRIBUTE),
        ("Expression", SourceType.EXPRESSION),
        ("static", SourceType.STATIC),
        ("text/x.schema-path", SourceType.ATTRIBUTE),
        ("text/x.aep-xl", SourceType.EXPRESSION),
    ],
)
def test_source_type_is_case_insensitive_and_accepts_data_prep_media_types(raw, expected):
    source = "contactid" if expected is not SourceType.STATIC else "x"
    ms = parse_mapping_set(new_form({"sourceType": raw, "source": source, "destination": "d"}))
    assert ms.mappings[0].source_type is expected


def test_to_dict_round_trips_through_the_parser():
    ms = parse_mapping_set(
        new_form(
            {"sourceType": "ATTRIBUTE", "source": "contactid", "destination": "_id", "name": "id"},
            {"sourceType": "STATIC", "source": 7, "destination": "seven"},
            expr('iif(numberofchildren > 2, "many", "few")', "kids.label"),
        )
    )
    again = parse_mapping_set(ms.to_dict())
    assert again == ms


def test_source_columns_lists_every_column_read_in_first_use_order():
    ms = parse_mapping_set(
        new_form(
            expr("concat(fullname, emailaddress1)", "a"),
            {"sourceType": "ATTRIBUTE", "source": "contactid", "destination": "b"},
            expr("coalesce(emailaddress1, contactid)", "c"),
        )
    )
    assert ms.source_columns() == ["fullname", "emailaddress1", "contactid"]
    assert ms.destination_for("contactid") == "b"
    assert ms.destination_for("fullname") is None


# ---------------------------------------------------------------------------------------- request errors


def test_a_missing_destination_names_the_mapping_and_field():
    with pytest.raises(MappingError, match=r"mappings\[1\]\.destination is required") as err:
        parse_mapping_set(new_form(expr("fullname", "a"), {"sourceType": "ATTRIBUTE", "source": "contactid"}))
    assert isinstance(err.value, InvalidRequest)
    assert err.value.code == "1419"
    assert err.value.status == 400


def test_a_missing_old_form_destination_names_the_old_field():
    with pytest.raises(MappingError, match=r"mappings\[0\]\.destinationXdmPath is required"):
        parse_mapping_set({"mappings": [{"sourceAttribute": "contactid", "destinationXdmPath": ""}]})


def test_an_unknown_source_type_names_the_mapping_and_the_allowed_values():
    with pytest.raises(MappingError, match=r"mappings\[0\]\.sourceType 'COLUMN' is not one of ATTRIBUTE"):
        parse_mapping_set(new_form({"sourceType": "COLUMN", "source": "contactid", "destination": "d"}))


def test_a_duplicate_destination_names_both_mappings_case_insensitively():
    with pytest.raises(MappingError, match=r"mappings\[2\]\.destination 'Person.Name' duplicates mappings\[0\]"):
        parse_mapping_set(
            new_form(
                {"sourceType": "ATTRIBUTE", "source": "fullname", "destination": "person.name"},
                {"sourceType": "ATTRIBUTE", "source": "contactid", "destination": "_id"},
                {"sourceType": "ATTRIBUTE", "source": "contactid", "destination": "Person.Name"},
            )
        )


def test_a_destination_cannot_be_both_a_value_and_a_struct():
    with pytest.raises(MappingError, match=r"mappings\[1\]\.destination 'person.name' nests under mappings\[0\]"):
        parse_mapping_set(
            new_form(
                {"sourceType": "ATTRIBUTE", "source": "fullname", "destination": "person"},
                {"sourceType": "ATTRIBUTE", "source": "fullname", "destination": "person.name"},
            )
        )
    with pytest.raises(MappingError, match=r"mappings\[1\]\.destination 'person' is a struct in mappings\[0\]"):
        parse_mapping_set(
            new_form(
                {"sourceType": "ATTRIBUTE", "source": "fullname", "destination": "person.name"},
                {"sourceType": "ATTRIBUTE", "source": "fullname", "destination": "person"},
            )
        )


@pytest.mark.parametrize("destination", ["person..name", ".person", "person.", " person"])
def test_a_malformed_destination_path_is_rejected(destination):
    with pytest.raises(MappingError, match=r"mappings\[0\]\.destination"):
        parse_mapping_set(new_form({"sourceType": "ATTRIBUTE", "source": "x", "destination": destination}))


def test_an_empty_mapping_list_is_rejected():
    with pytest.raises(MappingError, match="mappings is required and must be a non-empty array"):
        parse_mapping_set({"mappings": []})


def test_a_static_mapping_without_a_source_is_rejected_but_null_is_allowed():
    with pytest.raises(MappingError, match=r"mappings\[0\]\.source is required for a STATIC mapping"):
        parse_mapping_set(new_form({"sourceType": "STATIC", "destination": "d"}))
    ms = parse_mapping_set(new_form({"sourceType": "STATIC", "source": None, "destination": "d"}))
    assert ms.mappings[0].expr == Literal(None)


def test_an_unparseable_expression_names_the_mapping_position_and_text():
    with pytest.raises(MappingError) as err:
        parse_mapping_set(new_form(expr("fullname", "a"), expr("concat(fullname, ", "b")))
    message = err.value.message
    assert message.startswith("mappings[1].source: expected a value but found end of expression")
    assert "at position 17" in message
    assert "'concat(fullname, '" in message


def test_an_unknown_function_is_named_with_the_known_ones():
    with pytest.raises(MappingError, match=r"mappings\[0\]\.source: unknown function 'md5' \(known: coalesce"):
        parse_mapping_set(new_form(expr("md5(contactid)")))


def test_a_wrong_arity_names_the_function_and_its_usage():
    with pytest.raises(MappingError, match=r"substr\(\) takes 3 arguments, got 2 \(usage: substr\(text, start"):
        parse_mapping_set(new_form(expr("substr(fullname, 1)")))
    with pytest.raises(MappingError, match=r"lower\(\) takes 1 argument, got 2"):
        parse_mapping_set(new_form(expr("lower(fullname, emailaddress1)")))
    with pytest.raises(MappingError, match=r"to_timestamp\(\) takes 1 to 2 arguments, got 0"):
        parse_mapping_set(new_form(expr("to_timestamp()")))
    with pytest.raises(MappingError, match=r"concat\(\) takes at least 1 argument, got 0"):
        parse_mapping_set(new_form(expr("concat()")))


def test_substr_bounds_must_be_non_negative_integer_literals():
    with pytest.raises(MappingError, match=r"substr\(\) start must be an integer literal"):
        parse_mapping_set(new_form(expr("substr(fullname, numberofchildren, 2)")))
    with pytest.raises(MappingError, match=r"substr\(\) length must not be negative"):
        parse_mapping_set(new_form(expr("substr(fullname, 0, -2)")))


def test_an_unknown_column_names_the_mapping_and_suggests_close_names():
    ms = parse_mapping_set(new_form(expr("fullname", "a"), expr("lower(emailadress1)", "b")))
    with pytest.raises(MappingError) as err:
        ms.validate_against(set(CONTACT_SCHEMA.names))
    message = err.value.message
    assert message.startswith("mappings[1].source: unknown source column 'emailadress1' at position 6")
    assert "did you mean 'emailaddress1'" in message


def test_an_unknown_attribute_column_names_the_old_form_field():
    ms = parse_mapping_set({"mappings": [{"sourceAttribute": "TestID", "destinationXdmPath": "_id"}]})
    with pytest.raises(MappingError, match=r"mappings\[0\]\.sourceAttribute: unknown source column 'TestID'"):
        compile_mapping(ms, CONTACT_SCHEMA)


def test_column_names_fall_back_to_a_unique_case_insensitive_match():
    ms = parse_mapping_set({"mappings": [{"sourceAttribute": "FullName", "destinationXdmPath": "name"}]})
    bound = ms.bind(CONTACT_SCHEMA.names)
    assert bound.mappings[0].expr == ColumnRef("fullname")
    assert bound.mappings[0].source == "fullname"


# ------------------------------------------------------------------------------------- expression parser


def test_the_parser_builds_an_ast_with_precedence_not_over_and_over_or():
    ast = parse_expression('!donotemail && numberofchildren >= 2 || fullname == "x"')
    assert ast == BinaryOp(
        "||",
        BinaryOp(
            "&&",
            UnaryOp("!", ColumnRef("donotemail")),
            BinaryOp(">=", ColumnRef("numberofchildren"), Literal(2)),
        ),
        BinaryOp("==", ColumnRef("fullname"), Literal("x")),
    )


def test_literals_cover_strings_with_escapes_numbers_and_keywords():
    assert parse_expression(r'"a \"b\" \\ c"') == Literal('a "b" \\ c')
    assert parse_expression("'single'") == Literal("single")
    assert parse_expression("42") == Literal(42)
    assert parse_expression("-1.5") == Literal(-1.5)
    assert parse_expression("2e3") == Literal(2000.0)
    assert parse_expression("TRUE") == Literal(True)
    assert parse_expression("false") == Literal(False)
    assert parse_expression("Null") == Literal(None)


def test_function_names_are_case_insensitive_and_data_prep_aliases_resolve():
    assert parse_expression("LOWER(x)") == Call("lower", (ColumnRef("x"),))
    assert parse_expression("ucase(x)") == Call("upper", (ColumnRef("x"),))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty expression"),
        ('"open', "unterminated string literal at position 0"),
        ("a == b == c", "comparisons cannot be chained"),
        ("a $ b", "unexpected character '$' at position 2"),
        ("lower(a))", "unexpected ')' at position 8"),
        ("(a", "expected ')' but found end of expression"),
        (r'"\q"', "invalid escape"),
    ],
)
def test_syntax_errors_say_what_and_where(text, message):
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
        parse_expression(text)


def test_java_style_date_formats_translate_to_strptime():
    assert strptime_format("yyyy-MM-dd") == "%Y-%m-%d"
    assert strptime_format("yyyy-MM-dd'T'HH:mm:ssZ") == "%Y-%m-%dT%H:%M:%S%z"
    assert strptime_format("YYYY-MM-DD") == "%Y-%m-%d"
    assert strptime_format("%d/%m/%Y") == "%d/%m/%Y"
    with pytest.raises(ValueError, match="unsupported pattern letter 'Q'"):
        strptime_format("yyyy-Q")


def test_a_bad_to_timestamp_format_is_rejected_when_the_mapping_is_parsed():
    with pytest.raises(MappingError, match=r"to_timestamp\(\) format: unsupported pattern letter"):
        parse_mapping_set(new_form(expr('to_timestamp(birthdate, "yyyy-QQ")')))
    with pytest.raises(MappingError, match=r"to_timestamp\(\) format must be a string literal"):
        parse_mapping_set(new_form(expr("to_timestamp(birthdate, fullname)")))
