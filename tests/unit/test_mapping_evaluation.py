"""Mapping sets evaluated column-wise over Arrow batches (``services/mapping.py``)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from flowservice.domain.expressions import (
    MappingError,
)
from flowservice.domain.mapping import MappingSet, parse_mapping_set
from flowservice.services.mapping import compile_mapping, identity_mapping, output_schema
from tests.unit.mapping_examples import CONTACT_SCHEMA, UTC, contacts, evaluate, expr, new_form

# ------------------------------------------------------------------------------------------- evaluation


def test_attribute_copies_keep_type_nullability_and_metadata():
    schema = pa.schema([pa.field("contactid", pa.string(), nullable=False, metadata={b"pk": b"1"})])
    ms = parse_mapping_set(new_form({"sourceType": "ATTRIBUTE", "source": "contactid", "destination": "_id"}))
    mapped = compile_mapping(ms, schema)(pa.table({"contactid": ["a", "b"]}, schema=schema))
    assert mapped.schema.field("_id").type == pa.string()
    assert mapped.schema.field("_id").nullable is False
    assert mapped.schema.field("_id").metadata == {b"pk": b"1"}
    assert mapped.column("_id").to_pylist() == ["a", "b"]


def test_attribute_copies_keep_numeric_and_timestamp_types():
    ms = parse_mapping_set(
        new_form(
            {"sourceType": "ATTRIBUTE", "source": "numberofchildren", "destination": "kids"},
            {"sourceType": "ATTRIBUTE", "source": "modifiedon", "destination": "updated"},
        )
    )
    mapped = compile_mapping(ms, CONTACT_SCHEMA)(contacts())
    assert mapped.schema.field("kids").type == pa.int32()
    assert mapped.schema.field("updated").type == pa.timestamp("us", tz="UTC")
    assert mapped.column("kids").to_pylist() == [3, None, 0]


@pytest.mark.parametrize(
    ("value", "arrow_type"),
    [("Dynamics", pa.string()), (7, pa.int64()), (2.5, pa.float64()), (True, pa.bool_()), (None, pa.string())],
)
def test_static_values_broadcast_to_every_row_with_their_json_type(value, arrow_type):
    ms = parse_mapping_set(new_form({"sourceType": "STATIC", "source": value, "destination": "s"}))
    mapped = compile_mapping(ms, CONTACT_SCHEMA)(contacts())
    assert mapped.schema.field("s").type == arrow_type
    assert mapped.column("s").to_pylist() == [value] * 3


def test_concat_joins_text_and_converts_other_types_and_a_null_part_makes_a_null():
    assert evaluate('concat(contactid, "@acme.Dynamics")') == [
        "c1@acme.Dynamics",
        "c2@acme.Dynamics",
        "c3@acme.Dynamics",
    ]
    assert evaluate('concat(contactid, "-", numberofchildren)') == ["c1-3", None, "c3-0"]
    assert evaluate('concat(contactid, ":", donotemail)') == ["c1:false", "c2:true", None]


def test_lower_upper_and_trim_work_on_text_and_keep_nulls():
    assert evaluate("lower(emailaddress1)") == ["ada@example.com", "x@example.com", None]
    assert evaluate("upper(emailaddress1)") == ["ADA@EXAMPLE.COM", "X@EXAMPLE.COM", None]
    assert evaluate("trim(fullname)") == ["Ada Lovelace", None, "Grace Hopper"]
    assert evaluate("lcase(trim(fullname))") == ["ada lovelace", None, "grace hopper"]


def test_text_functions_refuse_non_text_and_suggest_to_string():
    ms = parse_mapping_set(new_form(expr("fullname", "a"), expr("upper(numberofchildren)", "b")))
    with pytest.raises(MappingError) as err:
        compile_mapping(ms, CONTACT_SCHEMA)
    assert err.value.code == "1419"
    assert err.value.message.startswith(
        "mappings[1].source: upper() expects text (use to_string() to convert), got int32 at position 0"
    )
    assert "(destination 'b')" in err.value.message


def test_substr_takes_a_zero_based_start_and_a_length():
    assert evaluate("substr(fullname, 2, 3)") == ["Ada", None, "ace"]
    assert evaluate('substr("This is a substring test", 7, 8)') == [" a subst"] * 3
    assert evaluate("substr(contactid, 5, 2)") == ["", "", ""]


def test_to_string_writes_iso_timestamps_numbers_and_booleans():
    assert evaluate("to_string(modifiedon)") == ["2024-01-02T03:04:05Z", None, "2024-06-01T00:00:00.250000Z"]
    assert evaluate("to_string(numberofchildren)") == ["3", None, "0"]
    assert evaluate("to_string(creditlimit)") == ["1000.5", None, "0"]
    assert evaluate("to_string(donotemail)") == ["false", "true", None]


def test_to_timestamp_reads_iso_text_and_leaves_unreadable_values_null():
    table = pa.table(
        {
            "birthdate": [
                "2024-01-02T03:04:05Z",
                "2024-01-02 03:04:05.5+02:00",
                "2024-01-02T03:04:05",
                "2024-01-02",
                "2024-13-45",
                "garbage",
                None,
            ]
        }
    )
    schema = pa.schema([pa.field("birthdate", pa.string())])
    ms = parse_mapping_set(new_form(expr("to_timestamp(birthdate)")))
    mapped = compile_mapping(ms, schema)(table)
    assert mapped.schema.field("out").type == pa.timestamp("us", tz="UTC")
    assert mapped.column("out").to_pylist() == [
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        dt.datetime(2024, 1, 2, 1, 4, 5, 500000, tzinfo=UTC),
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        dt.datetime(2024, 1, 2, tzinfo=UTC),
        None,
        None,
        None,
    ]


def test_to_timestamp_with_a_format_parses_that_format_only():
    assert evaluate('to_timestamp(birthdate, "yyyy-MM-dd")') == [dt.datetime(1815, 12, 10, tzinfo=UTC), None, None]
    assert evaluate('to_timestamp(birthdate, "%Y-%m-%d")')[0] == dt.datetime(1815, 12, 10, tzinfo=UTC)
    assert evaluate('to_timestamp(birthdate, "dd/MM/yyyy")') == [None, None, None]


def test_to_timestamp_of_a_timestamp_normalises_to_utc_microseconds():
    assert evaluate("to_timestamp(modifiedon)")[0] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_iif_picks_a_branch_per_row_and_treats_an_unknown_condition_as_false():
    assert evaluate('iif(numberofchildren > 1, "many", "few")') == ["many", "few", "few"]
    assert evaluate("iif(donotemail, null, emailaddress1)") == ["ADA@Example.com", None, None]
    assert evaluate("iif(is_null(fullname), contactid, trim(fullname))") == ["Ada Lovelace", "c2", "Grace Hopper"]


def test_iif_branches_of_different_number_types_are_widened():
    assert evaluate("iif(donotemail, numberofchildren, creditlimit)") == [1000.5, None, 0.0]


def test_iif_requires_a_boolean_condition():
    with pytest.raises(MappingError, match=r"iif\(\) expects a boolean, got string"):
        compile_mapping(parse_mapping_set(new_form(expr('iif(fullname, "a", "b")'))), CONTACT_SCHEMA)


def test_coalesce_takes_the_first_non_null_argument():
    assert evaluate('coalesce(fullname, emailaddress1, "unknown")') == [
        "  Ada Lovelace ",
        "x@example.com",
        "Grace Hopper",
    ]
    assert evaluate("coalesce(_parentcustomerid_value, contactid)") == ["a1", "c2", "c3"]
    assert evaluate("coalesce(numberofchildren, -1)") == [3, -1, 0]


def test_is_null_and_is_not_null_never_return_null():
    assert evaluate("is_null(fullname)") == [False, True, False]
    assert evaluate("is_not_null(fullname)") == [True, False, True]


def test_comparisons_follow_three_valued_logic_and_compare_timestamps_with_iso_literals():
    assert evaluate('emailaddress1 == "x@example.com"') == [False, True, None]
    assert evaluate('emailaddress1 != "x@example.com"') == [True, False, None]
    assert evaluate("numberofchildren < 3") == [False, None, True]
    assert evaluate("numberofchildren <= 3") == [True, None, True]
    assert evaluate("creditlimit > 0") == [True, None, False]
    assert evaluate('modifiedon >= "2024-03-01"') == [False, None, True]
    assert evaluate("!donotemail") == [True, False, None]
    assert evaluate("donotemail || numberofchildren > 1") == [True, True, None]
    assert evaluate("donotemail && numberofchildren > 1") == [False, None, False]


def test_a_literal_that_cannot_meet_its_column_is_rejected_at_compile_time():
    ms = parse_mapping_set(new_form(expr('modifiedon > "yesterday"')))
    with pytest.raises(MappingError, match=r"'yesterday' is not an ISO 8601 date or time at position 11"):
        compile_mapping(ms, CONTACT_SCHEMA)
    ms = parse_mapping_set(new_form(expr("donotemail == modifiedon")))
    with pytest.raises(MappingError, match=r"==: incompatible types bool, timestamp"):
        compile_mapping(ms, CONTACT_SCHEMA)


def test_nested_destinations_build_one_struct_per_shared_prefix_in_mapping_order():
    ms = parse_mapping_set(
        new_form(
            {"sourceType": "ATTRIBUTE", "source": "contactid", "destination": "_id"},
            {"sourceType": "ATTRIBUTE", "source": "fullname", "destination": "person.name.fullName"},
            {"sourceType": "STATIC", "source": "Dynamics", "destination": "b2b.sourceType"},
            expr("to_timestamp(birthdate)", "person.birthDate"),
            expr("lower(emailaddress1)", "personalEmail.address"),
            expr("trim(fullname)", "person.name.trimmed"),
        )
    )
    mapped = compile_mapping(ms, CONTACT_SCHEMA)(contacts())
    assert mapped.column_names == ["_id", "person", "b2b", "personalEmail"]
    person = mapped.schema.field("person").type
    assert [f.name for f in person] == ["name", "birthDate"]
    assert [f.name for f in person.field("name").type] == ["fullName", "trimmed"]
    assert mapped.to_pylist()[0] == {
        "_id": "c1",
        "person": {
            "name": {"fullName": "  Ada Lovelace ", "trimmed": "Ada Lovelace"},
            "birthDate": dt.datetime(1815, 12, 10, tzinfo=UTC),
        },
        "b2b": {"sourceType": "Dynamics"},
        "personalEmail": {"address": "ada@example.com"},
    }
    assert mapped.to_pylist()[1]["person"] == {"name": {"fullName": None, "trimmed": None}, "birthDate": None}


def test_output_schema_is_known_without_data_and_matches_the_mapped_table():
    ms = parse_mapping_set(
        new_form(
            {"sourceType": "ATTRIBUTE", "source": "contactid", "destination": "_id"},
            expr('concat(contactid, "@x")', "key.sourceKey"),
            expr("numberofchildren > 1", "key.many"),
            {"sourceType": "STATIC", "source": None, "destination": "empty"},
        )
    )
    schema = output_schema(ms, CONTACT_SCHEMA)
    assert schema == compile_mapping(ms, CONTACT_SCHEMA)(contacts()).schema
    assert schema.field("key").type == pa.struct([("sourceKey", pa.string()), ("many", pa.bool_())])
    assert schema.field("empty").type == pa.string()


def test_identity_mapping_copies_every_column_as_is():
    mapping = compile_mapping(identity_mapping(CONTACT_SCHEMA), CONTACT_SCHEMA)
    assert mapping.schema == CONTACT_SCHEMA
    assert mapping(contacts()).equals(contacts())


def test_identity_mapping_does_not_nest_a_column_whose_name_has_a_dot():
    schema = pa.schema([("a.b", pa.int64())])
    mapped = compile_mapping(identity_mapping(schema), schema)(pa.table({"a.b": [1]}))
    assert mapped.column_names == ["a.b"]


def test_a_record_batch_and_a_multi_chunk_table_map_alike():
    mapping = compile_mapping(parse_mapping_set(new_form(expr("upper(trim(fullname))"))), CONTACT_SCHEMA)
    table = pa.concat_tables([contacts(), contacts()])
    assert table.column("fullname").num_chunks == 2
    from_table = mapping(table)
    from_batch = mapping(contacts().to_batches()[0])
    assert from_table.column("out").to_pylist() == from_batch.column("out").to_pylist() * 2
    assert mapping(contacts().slice(0, 0)).num_rows == 0


def test_a_mapping_of_only_static_values_keeps_the_row_count():
    ms = parse_mapping_set(new_form({"sourceType": "STATIC", "source": "x", "destination": "s"}))
    assert compile_mapping(ms, CONTACT_SCHEMA)(contacts()).num_rows == 3


def test_a_batch_missing_a_column_the_mapping_reads_is_reported():
    mapping = compile_mapping(parse_mapping_set(new_form(expr("lower(fullname)"))), CONTACT_SCHEMA)
    with pytest.raises(MappingError, match="source column 'fullname' is missing"):
        mapping(pa.table({"contactid": ["a"]}))


def test_a_hundred_thousand_rows_map_column_wise_in_one_call():
    n = 100_000
    ids = pa.array([f"id{i}" for i in range(n)])
    children = pa.array([None if i % 7 == 0 else i % 5 for i in range(n)], pa.int32())
    table = pa.table(
        {
            "contactid": ids,
            "fullname": pa.array([f" Name {i} " for i in range(n)]),
            "numberofchildren": children,
        }
    )
    schema = table.schema
    ms = parse_mapping_set(
        new_form(
            {"sourceType": "ATTRIBUTE", "source": "contactid", "destination": "_id"},
            expr('concat(contactid, "@org.Dynamics")', "b2b.personKey.sourceKey"),
            expr("lower(trim(fullname))", "person.name"),
            expr('iif(coalesce(numberofchildren, 0) >= 3, "large", "small")', "segment"),
        )
    )
    mapped = compile_mapping(ms, schema)(table)
    assert mapped.num_rows == n
    rows = mapped.slice(99_995, 5).to_pylist()
    for offset, row in enumerate(rows):
        i = 99_995 + offset
        kids = None if i % 7 == 0 else i % 5
        assert row == {
            "_id": f"id{i}",
            "b2b": {"personKey": {"sourceKey": f"id{i}@org.Dynamics"}},
            "person": {"name": f"name {i}"},
            "segment": "large" if (kids or 0) >= 3 else "small",
        }
    segments = mapped.column("segment").value_counts().to_pylist()
    expected_large = sum(1 for i in range(n) if i % 7 != 0 and i % 5 >= 3)
    assert {d["values"]: d["counts"] for d in segments}["large"] == expected_large


def test_identity_of_an_explicit_mapping_set_round_trips():
    ms = MappingSet.identity(["a", "b"])
    assert [m.destination for m in ms.mappings] == ["a", "b"]
    assert parse_mapping_set(ms.to_dict()).mappings == ms.mappings


@pytest.mark.parametrize("text_type", [pa.large_string(), pa.string_view()])
def test_every_arrow_text_type_works_in_expressions_and_copies_keep_it(text_type):
    schema = pa.schema([pa.field("name", text_type)])
    ms = parse_mapping_set(
        new_form(
            {"sourceType": "ATTRIBUTE", "source": "name", "destination": "copy"},
            expr('concat(upper(name), "!")', "shout"),
            expr('name == "b"', "is_b"),
            expr('coalesce(name, "none")', "named"),
        )
    )
    mapped = compile_mapping(ms, schema)(pa.table({"name": pa.array(["a", "b", None], text_type)}))
    assert mapped.schema.field("copy").type == text_type
    assert mapped.to_pydict() == {
        "copy": ["a", "b", None],
        "shout": ["A!", "B!", None],
        "is_b": [False, True, None],
        "named": ["a", "b", "none"],
    }


def test_a_column_matching_several_names_ignoring_case_is_reported_as_ambiguous():
    ms = parse_mapping_set({"mappings": [{"sourceAttribute": "NAME", "destinationXdmPath": "n"}]})
    with pytest.raises(MappingError, match=r"ambiguous \(case differs\) source column 'NAME'.*'Name', 'name'"):
        ms.validate_against({"Name", "name"})
