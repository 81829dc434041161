"""Tables and columns as Dataverse describes them, independent of how rows are generated.

A :class:`Column` carries what ``Attributes`` metadata reports (type, precision, behaviour, targets, options)
and what the Web API needs to read and write it (the ``_x_value`` property name of lookups, the navigation
property, whether it is a Web API property at all: helper attributes such as ``owneridname`` exist only in
metadata, which is the connector pitfall the reference §3.6 warns about).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

# AttributeTypeName.Value → AttributeType (Virtual for multi-select, image and file, reference §3.3).
ATTRIBUTE_TYPE = {
    "StringType": "String",
    "MemoType": "Memo",
    "IntegerType": "Integer",
    "BigIntType": "BigInt",
    "DecimalType": "Decimal",
    "DoubleType": "Double",
    "MoneyType": "Money",
    "BooleanType": "Boolean",
    "DateTimeType": "DateTime",
    "UniqueidentifierType": "Uniqueidentifier",
    "LookupType": "Lookup",
    "CustomerType": "Customer",
    "OwnerType": "Owner",
    "PicklistType": "Picklist",
    "StateType": "State",
    "StatusType": "Status",
    "MultiSelectPicklistType": "Virtual",
    "EntityNameType": "EntityName",
    "ImageType": "Virtual",
    "FileType": "Virtual",
    "VirtualType": "Virtual",
}

METADATA_TYPE = {
    "StringType": "StringAttributeMetadata",
    "MemoType": "MemoAttributeMetadata",
    "IntegerType": "IntegerAttributeMetadata",
    "BigIntType": "BigIntAttributeMetadata",
    "DecimalType": "DecimalAttributeMetadata",
    "DoubleType": "DoubleAttributeMetadata",
    "MoneyType": "MoneyAttributeMetadata",
    "BooleanType": "BooleanAttributeMetadata",
    "DateTimeType": "DateTimeAttributeMetadata",
    "UniqueidentifierType": "UniqueIdentifierAttributeMetadata",
    "LookupType": "LookupAttributeMetadata",
    "CustomerType": "LookupAttributeMetadata",
    "OwnerType": "LookupAttributeMetadata",
    "PicklistType": "PicklistAttributeMetadata",
    "StateType": "StateAttributeMetadata",
    "StatusType": "StatusAttributeMetadata",
    "MultiSelectPicklistType": "MultiSelectPicklistAttributeMetadata",
    "EntityNameType": "EntityNameAttributeMetadata",
    "ImageType": "ImageAttributeMetadata",
    "FileType": "FileAttributeMetadata",
    "VirtualType": "AttributeMetadata",
}

LOOKUP_TYPES = frozenset({"LookupType", "CustomerType", "OwnerType"})
CHOICE_TYPES = frozenset({"PicklistType", "StateType", "StatusType", "MultiSelectPicklistType"})
INTEGER_TYPES = frozenset({"IntegerType", "BigIntType", "PicklistType", "StateType", "StatusType"})
DECIMAL_TYPES = frozenset({"DecimalType", "MoneyType"})
STRING_TYPES = frozenset({"StringType", "MemoType", "EntityNameType", "MultiSelectPicklistType"})
GUID_TYPES = frozenset({"UniqueidentifierType", "LookupType", "CustomerType", "OwnerType", "FileType"})

NAMESPACE = uuid.UUID("5b0f8e52-7a1c-4f0e-9d3a-1c2b4e6f8a90")


def metadata_id(*parts: str) -> str:
    """Stable MetadataId for a table, column or option set (the same in every org, like system metadata)."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def label(text: str | None, key: str = "") -> dict[str, Any]:
    """A ``Label`` complex value as the metadata API returns it (LocalizedLabels + UserLocalizedLabel)."""
    if text is None:
        return {"LocalizedLabels": [], "UserLocalizedLabel": None}
    one = {
        "Label": text,
        "LanguageCode": 1033,
        "IsManaged": True,
        "MetadataId": metadata_id("label", key or text),
        "HasChanged": None,
    }
    return {"LocalizedLabels": [one], "UserLocalizedLabel": dict(one)}


@dataclass(frozen=True)
class Option:
    value: int
    label: str
    state: int | None = None  # for Status options: the State they belong to
    default_status: int | None = None  # for State options
    invariant: str | None = None  # for State options


@dataclass
class Column:
    name: str
    type_name: str
    display: str = ""
    max_length: int | None = None
    precision: int | None = None
    min_value: float | int | None = None
    max_value: float | int | None = None
    behavior: str | None = None  # DateTime: UserLocal | DateOnly | TimeZoneIndependent
    targets: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    option_set_name: str | None = None
    global_option_set: bool = False
    attribute_of: str | None = None
    webapi: bool = True  # False for helper attributes that have no Web API property
    primary_id: bool = False
    primary_name: bool = False
    writable: bool = True
    custom: bool = False
    logical: bool = False
    required: str = "None"
    description: str = ""
    nav: str | None = None  # single-valued navigation property of a lookup
    format: str | None = None
    true_label: str = "Yes"
    false_label: str = "No"
    money_base_of: str | None = None
    table: str = ""
    number: int = 0
    _option_map: dict[int, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.display:
            self.display = self.name.replace("_", " ").title()
        self._option_map = {o.value: o.label for o in self.options}
        if self.type_name in LOOKUP_TYPES and self.nav is None:
            self.nav = self.name

    @property
    def attribute_type(self) -> str:
        return ATTRIBUTE_TYPE[self.type_name]

    @property
    def prop(self) -> str:
        """The Web API property name: ``_x_value`` for lookups (reference §3.5)."""
        return f"_{self.name}_value" if self.type_name in LOOKUP_TYPES else self.name

    @property
    def is_lookup(self) -> bool:
        return self.type_name in LOOKUP_TYPES

    @property
    def date_only(self) -> bool:
        return self.type_name == "DateTimeType" and (self.behavior == "DateOnly")

    def option_label(self, value: int) -> str | None:
        return self._option_map.get(value)

    @property
    def edm_type(self) -> str:
        t = self.type_name
        if t in ("StringType", "MemoType", "EntityNameType", "MultiSelectPicklistType"):
            return "Edm.String"
        if t in ("IntegerType", "PicklistType", "StateType", "StatusType"):
            return "Edm.Int32"
        if t == "BigIntType":
            return "Edm.Int64"
        if t in DECIMAL_TYPES:
            return "Edm.Decimal"
        if t == "DoubleType":
            return "Edm.Double"
        if t == "BooleanType":
            return "Edm.Boolean"
        if t == "DateTimeType":
            return "Edm.Date" if self.date_only else "Edm.DateTimeOffset"
        if t == "ImageType":
            return "Edm.Binary"
        return "Edm.Guid"


@dataclass
class Table:
    """A table definition (EntityMetadata) plus its columns."""

    logical_name: str
    entity_set: str
    display: str
    display_plural: str
    primary_id: str
    primary_name: str | None
    object_type_code: int
    columns: list[Column]
    change_tracking: bool = True
    can_change_tracking: bool = True
    custom: bool = False
    private: bool = False
    intersect: bool = False
    activity: bool = False
    ownership: str = "UserOwned"
    table_type: str = "Standard"
    valid_for_advanced_find: bool = True
    description: str = ""
    has_rows: bool = False
    metadata_id_override: str | None = None
    by_name: dict[str, Column] = field(default_factory=dict, repr=False)
    by_prop: dict[str, Column] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for number, col in enumerate(self.columns, start=1):
            col.table = self.logical_name
            col.number = number
            if col.option_set_name and "{table}" in col.option_set_name:
                col.option_set_name = col.option_set_name.replace("{table}", self.logical_name)
        self.by_name = {c.name: c for c in self.columns}
        self.by_prop = {c.prop: c for c in self.columns if c.webapi}

    @property
    def metadata_id(self) -> str:
        return self.metadata_id_override or metadata_id("entity", self.logical_name)

    @property
    def schema_name(self) -> str:
        return schema_name(self.logical_name)

    @property
    def max_page_size(self) -> int:
        return 500 if self.table_type == "Elastic" else 5000

    def webapi_columns(self) -> list[Column]:
        return [c for c in self.columns if c.webapi]


def schema_name(logical: str) -> str:
    """Pascal-case schema name as Dataverse derives it (``cr6f1_project`` → ``cr6f1_Project``)."""
    prefix, sep, rest = logical.partition("_")
    if sep and len(prefix) <= 6 and prefix not in ("address1", "address2"):
        return f"{prefix}_{rest[:1].upper()}{rest[1:]}"
    return logical[:1].upper() + logical[1:]
