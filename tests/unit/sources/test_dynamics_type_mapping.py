"""Every Dataverse AttributeTypeName maps deliberately; omissions follow documented rules."""

from __future__ import annotations

import pyarrow as pa
import pytest

from flowservice.ports import Column, TableInfo
from flowservice.sources.dynamics.convert import select_names
from flowservice.sources.dynamics.metadata import (
    OMIT_HELPER,
    OMIT_UNREADABLE,
    build_schema,
    map_attribute,
    table_from_definition,
)

from .fake_dataverse import account_table


def attribute(name: str, type_name: str, **extra: object) -> dict[str, object]:
    return {"LogicalName": name, "AttributeTypeName": {"Value": type_name}, **extra}


def mapped(attribute: dict[str, object], extra: dict[str, object], *, lookup_targets: bool) -> list[Column]:
    """``map_attribute`` for an attribute that becomes columns (a reason instead of columns fails here)."""
    columns = map_attribute(attribute, extra, lookup_targets=lookup_targets)
    assert isinstance(columns, list), columns
    return columns


@pytest.mark.parametrize(
    ("type_name", "extra", "arrow", "xdm"),
    [
        ("StringType", {}, pa.string(), {"type": "string"}),
        ("MemoType", {}, pa.string(), {"type": "string"}),
        ("IntegerType", {}, pa.int32(), {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}),
        ("BigIntType", {}, pa.int64(), {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}),
        ("DecimalType", {"Precision": 5}, pa.decimal128(38, 5), {"type": "number"}),
        ("MoneyType", {"Precision": 2, "PrecisionSource": 0}, pa.decimal128(38, 2), {"type": "number"}),
        ("MoneyType", {"Precision": 2, "PrecisionSource": 2}, pa.decimal128(38, 4), {"type": "number"}),
        ("DoubleType", {}, pa.float64(), {"type": "number"}),
        ("BooleanType", {}, pa.bool_(), {"type": "boolean"}),
        (
            "DateTimeType",
            {"DateTimeBehavior": {"Value": "UserLocal"}},
            pa.timestamp("us", tz="UTC"),
            {"type": "string", "format": "date-time"},
        ),
        (
            "DateTimeType",
            {"DateTimeBehavior": {"Value": "TimeZoneIndependent"}},
            pa.timestamp("us", tz="UTC"),
            {"type": "string", "format": "date-time"},
        ),
        (
            "DateTimeType",
            {"DateTimeBehavior": {"Value": "DateOnly"}},
            pa.date32(),
            {"type": "string", "format": "date"},
        ),
        ("UniqueidentifierType", {}, pa.string(), {"type": "string", "format": "uuid"}),
        ("PicklistType", {}, pa.int32(), {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}),
        ("StateType", {}, pa.int32(), {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}),
        ("StatusType", {}, pa.int32(), {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}),
        ("MultiSelectPicklistType", {}, pa.string(), {"type": "string"}),
        ("EntityNameType", {}, pa.string(), {"type": "string"}),
        ("ManagedPropertyType", {}, pa.string(), {"type": "string"}),
        ("SomethingNewType", {}, pa.string(), {"type": "string"}),
    ],
)
def test_maps_each_scalar_attribute_type_to_one_typed_column(type_name, extra, arrow, xdm):
    columns = map_attribute(attribute("x", type_name), extra, lookup_targets=True)
    assert isinstance(columns, list) and len(columns) == 1
    assert columns[0].name == "x"
    assert columns[0].arrow_type == arrow
    assert dict(columns[0].xdm) == xdm
    assert columns[0].original_type == type_name


def test_date_only_behaviour_becomes_date32_whatever_the_format():
    [column] = mapped(
        attribute("birthdate", "DateTimeType"),
        {"DateTimeBehavior": "DateOnly", "Format": "DateOnly"},
        lookup_targets=True,
    )
    assert column.arrow_type == pa.date32()


def test_user_local_date_only_format_stays_a_timestamp_because_the_wire_carries_a_time():
    [column] = mapped(
        attribute("d", "DateTimeType"),
        {"DateTimeBehavior": {"Value": "UserLocal"}, "Format": "DateOnly"},
        lookup_targets=True,
    )
    assert column.arrow_type == pa.timestamp("us", tz="UTC")


def test_single_target_lookup_becomes_its_value_property_and_a_target_companion_from_metadata():
    columns = mapped(attribute("parentaccountid", "LookupType"), {"Targets": ["account"]}, lookup_targets=True)
    assert [c.name for c in columns] == ["_parentaccountid_value", "_parentaccountid_value_lookuplogicalname"]
    assert columns[0].xdm == {"type": "string", "format": "uuid"}
    assert "account" in (columns[0].description or "")
    assert columns[1].xdm == {"type": "string", "enum": ["account"]}
    assert "from metadata" in (columns[1].description or "")


@pytest.mark.parametrize("type_name", ["CustomerType", "OwnerType"])
def test_polymorphic_lookups_get_a_target_table_companion_column(type_name):
    columns = mapped(attribute("x", type_name), {"Targets": ["a", "b"]}, lookup_targets=True)
    assert [c.name for c in columns] == ["_x_value", "_x_value_lookuplogicalname"]
    assert columns[1].arrow_type == pa.string()


def test_multi_target_lookup_companion_can_be_switched_off():
    columns = mapped(
        attribute("regardingobjectid", "LookupType"), {"Targets": ["account", "contact"]}, lookup_targets=False
    )
    assert [c.name for c in columns] == ["_regardingobjectid_value"]


@pytest.mark.parametrize("type_name", ["ImageType", "PartyListType", "CalendarRulesType", "VirtualType"])
def test_non_value_types_are_omitted_with_a_reason(type_name):
    reason = map_attribute(attribute("x", type_name), {}, lookup_targets=True)
    assert isinstance(reason, str) and reason


def test_money_scale_keeps_precision_and_uses_four_places_when_currency_decides():
    [fixed] = mapped(attribute("m", "MoneyType"), {"Precision": 3, "PrecisionSource": 0}, lookup_targets=True)
    [by_currency] = mapped(attribute("m", "MoneyType"), {"Precision": 2, "PrecisionSource": 2}, lookup_targets=True)
    assert fixed.arrow_type == pa.decimal128(38, 3)
    assert by_currency.arrow_type == pa.decimal128(38, 4)


def test_schema_omits_only_by_documented_rules_and_keeps_file_and_image_helpers():
    table = account_table()
    info = TableInfo("account", "Account", "accounts", "accountid", True)
    attributes = [a.definition(table.pk) for a in table.attrs]
    details = {a.name: a.extra for a in table.attrs}
    schema, omitted = build_schema(info, attributes, details, lookup_targets=True)
    names = [c.name for c in schema.columns]
    reasons = dict(omitted)
    assert names[0] == "accountid" and schema.columns[0].is_primary_key and not schema.columns[0].nullable
    assert names[1:] == sorted(names[1:])
    assert reasons["primarycontactidname"] == OMIT_HELPER
    assert reasons["owneridtype"] == OMIT_HELPER
    assert reasons["secretcolumn"] == OMIT_UNREADABLE
    assert set(reasons) == {
        "primarycontactidname",
        "owneridtype",
        "secretcolumn",
        "entityimage",
        "activityparties",
        "calendarrules",
        "virtualthing",
    }
    for kept in (
        "entityimageid",
        "entityimage_url",
        "entityimage_timestamp",
        "contract",
        "contract_name",
        "_primarycontactid_value",
        "hobbies",
        "iscustomizable",
        "new_future",
    ):
        assert kept in names
    every_attribute = {a.name for a in table.attrs}
    accounted = set(reasons) | {n.removeprefix("_").removesuffix("_value") for n in names} | set(names)
    assert every_attribute <= accounted, "an attribute was dropped without a documented rule"


def test_tables_without_entity_set_private_or_virtual_are_not_listed():
    base = {"LogicalName": "t", "EntitySetName": "ts", "PrimaryIdAttribute": "tid"}
    assert table_from_definition(base) is not None
    assert table_from_definition({**base, "EntitySetName": None}) is None
    assert table_from_definition({**base, "IsPrivate": True}) is None
    assert table_from_definition({**base, "TableType": "Virtual"}) is None
    elastic = table_from_definition({**base, "TableType": "Elastic", "ChangeTrackingEnabled": {"Value": True}})
    assert elastic is not None and elastic.max_page_size == 500 and elastic.info.change_tracking


def test_a_file_column_becomes_its_id_its_size_and_its_mime_type_never_its_content():
    columns = map_attribute(attribute("x", "FileType"), {}, lookup_targets=True)
    assert isinstance(columns, list)
    assert [(c.name, c.arrow_type, dict(c.xdm)) for c in columns] == [
        ("x", pa.string(), {"type": "string", "format": "uuid"}),
        ("x_filesize", pa.int64(), {"type": "integer", "minimum": 0}),
        ("x_mimetype", pa.string(), {"type": "string"}),
    ]
    assert select_names(columns) == ["x"]  # size and MIME type come from fileattachment rows, not $select
