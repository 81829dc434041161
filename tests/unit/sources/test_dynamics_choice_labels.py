"""Choice columns shaped by a source connection's params (``sources/dynamics/labels.py``), the option-set
metadata parser and the ``optionsetmetadata`` pages: pure logic over Arrow, and a fake org for what is sent."""

from __future__ import annotations

import pyarrow as pa
import pytest

from flowservice.domain.errors import InvalidRequest, SourceError
from flowservice.ports import Column, TableInfo, TableSchema
from flowservice.sources.dynamics import labels, option_set_table
from flowservice.sources.dynamics.option_sets import ChoiceOptions, fingerprint, parse_attribute

from .conftest import SourceMaker
from .fake_dataverse import FakeDataverse

INFO = TableInfo("thing", "Thing", "things", "thingid", True)
BASE = TableSchema(
    INFO,
    (
        Column("thingid", pa.string(), "UniqueidentifierType", {"type": "string"}, is_primary_key=True),
        Column("colour", pa.int32(), "PicklistType", {"type": "integer"}),
        Column("tags", pa.string(), "MultiSelectPicklistType", {"type": "string"}),
        Column("size", pa.int32(), "IntegerType", {"type": "integer"}),
    ),
)
LABELS = {"colour": {1: "Red", 2: "Blue"}, "tags": {1: "One", 9: "Nine"}}


def batch(colour: list[int | None], tags: list[str | None]) -> pa.RecordBatch:
    ids = [f"id{i}" for i in range(len(colour))]
    return pa.RecordBatch.from_pydict(
        {"thingid": ids, "colour": colour, "tags": tags, "size": [1] * len(ids)}, schema=BASE.arrow_schema()
    )


def test_params_accept_json_and_query_string_forms_and_refuse_anything_else() -> None:
    assert labels.ChoiceParams.parse(None) == labels.ChoiceParams()
    assert labels.ChoiceParams.parse({"choiceLabels": "true", "labelLanguage": "1031"}).language == 1031
    parsed = labels.ChoiceParams.parse({"choiceLabels": True, "multiSelectFormat": "text"})
    assert parsed.labels and parsed.multi_select == "text"
    for bad in ({"choiceLabels": "yes"}, {"multiSelectFormat": "csv"}, {"choiceLabels": True, "labelLanguage": -1}):
        with pytest.raises(InvalidRequest):
            labels.ChoiceParams.parse(bad)
    with pytest.raises(InvalidRequest, match="needs choiceLabels"):
        labels.ChoiceParams.parse({"labelLanguage": 1031})


def test_without_labels_the_schema_only_turns_multi_select_into_a_list_of_integers() -> None:
    view = labels.choice_view(BASE, labels.ChoiceParams())
    types = {c.name: c.arrow_type for c in view.schema.columns}
    assert types == {"thingid": pa.string(), "colour": pa.int32(), "tags": pa.list_(pa.int32()), "size": pa.int32()}
    assert view.parents == {}
    text = labels.choice_view(BASE, labels.ChoiceParams(multi_select="text"))
    assert text.schema.columns == BASE.columns  # nothing to do: the read hands pages on as they come


def test_with_labels_each_choice_column_is_followed_by_its_label_column() -> None:
    view = labels.choice_view(BASE, labels.ChoiceParams(labels=True))
    names = [c.name for c in view.schema.columns]
    assert names == ["thingid", "colour", "colour_label", "tags", "tags_label", "size"]
    assert view.schema.columns[4].arrow_type == pa.list_(pa.string())
    assert view.parents == {"colour_label": "colour", "tags_label": "tags"}
    assert view.wire_columns(["colour_label"]) == ["colour"]
    assert view.out_names(["colour_label"]) == ["thingid", "colour_label"]
    with pytest.raises(InvalidRequest, match="nosuch"):
        view.wire_columns(["nosuch"])


def test_labels_are_looked_up_column_wise_and_unknown_values_get_a_null_label() -> None:
    view = labels.choice_view(BASE, labels.ChoiceParams(labels=True))
    out = view.apply(batch([1, None, 7], ["1,9", None, ""]), view.out_names(None), LABELS)
    rows = out.to_pylist()
    assert [r["colour_label"] for r in rows] == ["Red", None, None]
    assert [r["tags"] for r in rows] == [[1, 9], None, []]
    assert [r["tags_label"] for r in rows] == [["One", "Nine"], None, []]


def test_multi_select_kept_as_text_gets_its_labels_joined_as_dataverse_formats_them() -> None:
    view = labels.choice_view(BASE, labels.ChoiceParams(labels=True, multi_select="text"))
    out = view.apply(batch([2], ["9,1"]), ["thingid", "tags", "tags_label"], LABELS)
    assert out.to_pylist() == [{"thingid": "id0", "tags": "9,1", "tags_label": "Nine; One"}]


def test_a_multi_select_value_that_is_not_integers_fails_loudly_naming_the_column() -> None:
    with pytest.raises(SourceError, match=r"thing\.tags"):
        labels.multi_values(pa.array(["1,x"]), "thing.tags")


def test_labels_of_a_sliced_list_array_keep_their_rows() -> None:
    lists = pa.array([[1], [9, 1], [2]], pa.list_(pa.int32())).slice(1, 2)
    assert labels.multi_labels(lists, LABELS["tags"]).to_pylist() == [["Nine", "One"], [None]]


def test_option_set_metadata_prefers_the_global_set_and_keeps_every_language() -> None:
    item = {
        "LogicalName": "industrycode",
        "OptionSet": {"Name": "industrycode", "IsGlobal": True, "Options": []},
        "GlobalOptionSet": {
            "Name": "industrycode",
            "IsGlobal": True,
            "Options": [
                {
                    "Value": 1,
                    "Label": {
                        "LocalizedLabels": [
                            {"Label": "Accounting", "LanguageCode": 1033},
                            {"Label": "Buchhaltung", "LanguageCode": 1031},
                        ],
                        "UserLocalizedLabel": {"Label": "Accounting", "LanguageCode": 1033},
                    },
                }
            ],
        },
    }
    options = parse_attribute("account", item)
    assert options is not None and options.is_global and options.option_set == "industrycode"
    assert options.in_language(1031) == {1: "Buchhaltung"}
    assert options.in_language(None) == {1: "Accounting"}  # the org did not say: the caller's label
    assert options.in_language(1036) == {1: "Accounting"}
    rows = option_set_table.rows([options]).to_pylist()
    assert [(r["optionsetmetadataid"], r["label"]) for r in rows] == [
        ("account.industrycode.1.1031", "Buchhaltung"),
        ("account.industrycode.1.1033", "Accounting"),
    ]


def test_the_labels_digest_changes_when_a_label_is_renamed_and_only_then() -> None:
    before = {"colour": ChoiceOptions("thing", "colour", "s", False, {1: {1033: "Red"}})}
    after = {"colour": ChoiceOptions("thing", "colour", "s", False, {1: {1033: "Crimson"}})}
    assert fingerprint(before, 1033) == fingerprint(dict(before), 1033)
    assert fingerprint(before, 1033) != fingerprint(after, 1033)


def test_option_set_pages_resume_after_the_last_table_committed_and_resync_after_the_first_run() -> None:
    def fetch(table: str) -> dict[str, ChoiceOptions]:
        return {"c": ChoiceOptions(table, "c", "s", False, {1: {1033: table}})}

    first = list(option_set_table.read_pages(["b", "a", "c"], fetch, None, None))
    assert [p.batch.column("tablename").to_pylist() for p in first] == [["a"], ["b"], ["c"]]
    assert [p.final for p in first] == [False, False, True] and not any(p.full_resync for p in first)
    resumed = list(option_set_table.read_pages(["a", "b", "c"], fetch, None, first[0].cursor))
    assert [p.batch.column("tablename").to_pylist() for p in resumed] == [["b"], ["c"]]
    later = list(option_set_table.read_pages(["a", "b", "c"], fetch, ["label"], first[-1].cursor))
    assert all(p.full_resync for p in later) and later[0].batch.schema.names == ["optionsetmetadataid", "label"]
    assert option_set_table.cursor_info(first[0].cursor).mid_read
    assert not option_set_table.cursor_info(first[-1].cursor).mid_read


def test_a_read_with_labels_off_asks_for_no_option_set_and_no_annotation(
    make_source: SourceMaker, fake: FakeDataverse
) -> None:
    source = make_source()
    pages = list(source.read("contact", None, None))
    assert pages and fake.api_requests("OptionSet") == [] and fake.api_requests("organizations") == []
    assert not any("FormattedValue" in r.headers.get("Prefer", "") for r in fake.requests)


def test_the_mapping_layer_copies_list_columns_by_identity_and_by_attribute_mappings() -> None:
    from flowservice.domain.mapping import MappingSet, parse_mapping_set
    from flowservice.services.mapping import compile_mapping

    view = labels.choice_view(BASE, labels.ChoiceParams(labels=True))
    data = view.apply(batch([1, 2], ["1,9", None]), view.out_names(None), LABELS)
    identity = compile_mapping(MappingSet.identity(data.schema.names), data.schema)(data)
    assert identity.column("tags").to_pylist() == [[1, 9], None]
    assert identity.schema.field("tags_label").type == pa.list_(pa.string())
    body = {
        "mappings": [
            {"sourceType": "ATTRIBUTE", "source": "thingid", "destination": "id"},
            {"sourceType": "ATTRIBUTE", "source": "tags_label", "destination": "names"},
        ]
    }
    mapped = compile_mapping(parse_mapping_set(body), data.schema)(data)
    assert mapped.to_pylist() == [{"id": "id0", "names": ["One", "Nine"]}, {"id": "id1", "names": None}]


def test_option_set_tables_must_be_logical_names_and_a_bad_one_is_a_bad_request() -> None:
    assert option_set_table.option_set_tables(None) is None
    assert option_set_table.option_set_tables(["Lead", "account", "optionsetmetadata"]) == ["account", "lead"]
    for bad in (["no such table!"], "account", [1]):
        with pytest.raises(InvalidRequest, match="optionSetTables"):
            option_set_table.option_set_tables(bad)
