"""Tables and columns from Dataverse metadata (``EntityDefinitions`` / ``Attributes``), never from sampled rows.

Every ``AttributeTypeName`` is mapped deliberately (``AttributeType`` says ``Virtual`` for multi-select and
image columns, so it is not used). A column is left out only by one of the documented rules in ``OMIT_*``
below; ``TableMeta.omitted`` records each omission with its reason. The full table is in
``docs/adding-a-source.md`` ("Dynamics type mapping").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from flowservice.domain.errors import NotFound
from flowservice.ports import Column, TableInfo, TableSchema

from .files import companions
from .http import DataverseHttp
from .lookups import target_column

TABLE_SELECT = "LogicalName,EntitySetName,DisplayName,PrimaryIdAttribute,ChangeTrackingEnabled,IsPrivate,TableType"
ATTRIBUTE_SELECT = "LogicalName,AttributeType,AttributeTypeName,AttributeOf,IsValidForRead,IsPrimaryId,Description"
LOOKUP_TARGET_SUFFIX = "_lookuplogicalname"
LOOKUP_ANNOTATION = "Microsoft.Dynamics.CRM.lookuplogicalname"
ELASTIC_PAGE_SIZE = 500
MAX_PAGE_SIZE = 5000
_LOGICAL_NAME = re.compile(r"[a-z][a-z0-9_]{0,127}")

INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
INT64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
UUID = {"type": "string", "format": "uuid"}
STRING = {"type": "string"}

# Types whose values are not readable as a column of the table (documented omission rules).
OMIT_TYPES = {
    "ImageType": "image bytes stay out of the table (the value is a base64 thumbnail); its <name>id, "
    "<name>_timestamp and <name>_url columns are kept, and downloadFiles stores the full-size image in the lake",
    "PartyListType": "a party list is a collection of activityparty rows; read the activityparty table",
    "CalendarRulesType": "calendar rules are a collection, not a value",
    "VirtualType": "virtual columns carry no data readable through the Web API",
}
OMIT_UNREADABLE = "IsValidForRead is false: Dataverse returns null for it"
OMIT_HELPER = (
    "AttributeOf is set: a helper of another column (lookup name/type, yomi name, choice label) that is not a "
    "Web API property; its information is in the parent column or its annotation"
)
LOOKUP_TYPES = frozenset({"LookupType", "CustomerType", "OwnerType"})
#: Helpers of these parents are real Web API properties (file name, image URL and timestamp): kept.
PARENTS_WITH_READABLE_HELPERS = frozenset({"ImageType", "FileType"})


@dataclass(frozen=True)
class TableMeta:
    """A table as listed, plus what reading it needs beyond ``TableInfo``."""

    info: TableInfo
    table_type: str = "Standard"
    omitted: tuple[tuple[str, str], ...] = ()
    #: lookup-target companions filled from metadata (companion column, target table): ``lookups.py``
    single_targets: tuple[tuple[str, str], ...] = ()

    @property
    def max_page_size(self) -> int:
        return ELASTIC_PAGE_SIZE if self.table_type == "Elastic" else MAX_PAGE_SIZE


# ------------------------------------------------------------------------------------------------ tables


def label(value: Any, default: str) -> str:
    if isinstance(value, Mapping):
        user = value.get("UserLocalizedLabel")
        if isinstance(user, Mapping) and user.get("Label"):
            return str(user["Label"])
        for localized in value.get("LocalizedLabels") or ():
            if isinstance(localized, Mapping) and localized.get("Label"):
                return str(localized["Label"])
    return default


def managed_bool(value: Any) -> bool:
    """Plain booleans, or managed properties ``{"Value": bool, "CanBeChanged": ...}``."""
    if isinstance(value, Mapping):
        value = value.get("Value")
    return bool(value)


def table_from_definition(d: Mapping[str, Any]) -> TableMeta | None:
    """``None`` for tables that cannot be read through the Web API: no entity set, private, or virtual
    (virtual tables proxy an external system and support neither paging guarantees nor change tracking)."""
    name = d.get("LogicalName")
    entity_set = d.get("EntitySetName")
    if not name or not entity_set or managed_bool(d.get("IsPrivate")):
        return None
    table_type = str(d.get("TableType") or "Standard")
    if table_type == "Virtual":
        return None
    info = TableInfo(
        name=str(name),
        display_name=label(d.get("DisplayName"), str(name)),
        entity_set=str(entity_set),
        primary_key=d.get("PrimaryIdAttribute") or None,
        change_tracking=managed_bool(d.get("ChangeTrackingEnabled")),
    )
    return TableMeta(info=info, table_type=table_type)


def iter_tables(http: DataverseHttp) -> Iterator[TableMeta]:
    """One response per page (Dataverse returns all definitions at once; a nextLink is followed if present).
    Only table-level properties are selected, so a 1,000-table org costs tens of kilobytes."""
    url: str | None = http.url("EntityDefinitions", {"$select": TABLE_SELECT})
    while url:
        doc, _ = http.get_json(url)
        for d in doc.get("value") or ():
            meta = table_from_definition(d)
            if meta is not None:
                yield meta
        url = doc.get("@odata.nextLink")
        if url and not url.startswith(http.uri.origin + "/"):
            raise NotFound(f"Dataverse returned a metadata nextLink outside the organization: {url}")


def check_table_name(table: str) -> str:
    name = table.strip().lower()
    if not _LOGICAL_NAME.fullmatch(name):
        raise NotFound(f"There is no Dynamics table named {table!r}.", resource_type="table")
    return name


def fetch_table(http: DataverseHttp, name: str) -> TableMeta:
    url = http.url(f"EntityDefinitions(LogicalName='{name}')", {"$select": TABLE_SELECT})
    try:
        doc, _ = http.get_json(url)
    except NotFound:
        raise NotFound(f"There is no Dynamics table named {name!r}.", resource_type="table") from None
    if isinstance(doc, Mapping) and isinstance(doc.get("value"), list):  # the documented (array) form
        doc = doc["value"][0] if doc["value"] else {}
    meta = table_from_definition(doc) if isinstance(doc, Mapping) else None
    if meta is None:
        raise NotFound(f"The Dynamics table {name!r} cannot be read through the Web API.", resource_type="table")
    return meta


# ----------------------------------------------------------------------------------------------- columns

_CASTS: dict[str, tuple[frozenset[str], str]] = {
    # metadata class: (AttributeTypeNames it covers, properties to select)
    "DecimalAttributeMetadata": (frozenset({"DecimalType"}), "LogicalName,Precision"),
    "MoneyAttributeMetadata": (frozenset({"MoneyType"}), "LogicalName,Precision,PrecisionSource"),
    "DateTimeAttributeMetadata": (frozenset({"DateTimeType"}), "LogicalName,DateTimeBehavior,Format"),
    "LookupAttributeMetadata": (LOOKUP_TYPES, "LogicalName,Targets"),
}


def type_name(attribute: Mapping[str, Any]) -> str:
    value = attribute.get("AttributeTypeName")
    if isinstance(value, Mapping):
        value = value.get("Value")
    return str(value or f"{attribute.get('AttributeType') or 'Unknown'}Type")


def fetch_attributes(http: DataverseHttp, name: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The table's attributes, and the type-specific properties (precision, date behaviour, lookup targets)
    fetched through one cast query per metadata class actually present."""
    base = f"EntityDefinitions(LogicalName='{name}')/Attributes"
    doc, _ = http.get_json(http.url(base, {"$select": ATTRIBUTE_SELECT}))
    attributes = list(doc.get("value") or ())
    present = {type_name(a) for a in attributes}
    details: dict[str, dict[str, Any]] = {}
    for cls, (types, select) in _CASTS.items():
        if present & types:
            cast, _ = http.get_json(http.url(f"{base}/Microsoft.Dynamics.CRM.{cls}", {"$select": select}))
            for item in cast.get("value") or ():
                details.setdefault(str(item.get("LogicalName")), {}).update(item)
    return attributes, details


def _behavior(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("Value")
    return str(value or "UserLocal")


def _scale(type_: str, extra: Mapping[str, Any]) -> int:
    precision = extra.get("Precision")
    if type_ == "MoneyType" and extra.get("PrecisionSource") != 0:
        return 4  # precision set by the org or by each row's currency: money never has more than 4 places
    if isinstance(precision, int) and 0 <= precision <= 10:
        return precision
    return 4 if type_ == "MoneyType" else 10


def _column(
    name: str, arrow: pa.DataType, original: str, xdm: Mapping[str, Any], note: str | None, described: str | None
) -> Column:
    text = " ".join(part for part in (described, note) if part) or None
    return Column(name=name, arrow_type=arrow, original_type=original, xdm=dict(xdm), description=text)


def map_attribute(
    attribute: Mapping[str, Any], extra: Mapping[str, Any], *, lookup_targets: bool
) -> list[Column] | str:
    """The column(s) an attribute becomes, or the reason it is omitted."""
    name = str(attribute.get("LogicalName"))
    original = type_name(attribute)
    described = label(attribute.get("Description"), "") or None
    if original in OMIT_TYPES:
        return OMIT_TYPES[original]
    if original in ("StringType", "MemoType", "EntityNameType"):
        return [_column(name, pa.string(), original, STRING, None, described)]
    if original in ("IntegerType", "PicklistType", "StateType", "StatusType"):
        note = None if original == "IntegerType" else "Choice value; labels are in the option set metadata."
        return [_column(name, pa.int32(), original, INT32, note, described)]
    if original == "BigIntType":
        return [_column(name, pa.int64(), original, INT64, None, described)]
    if original in ("DecimalType", "MoneyType"):
        arrow = pa.decimal128(38, _scale(original, extra))
        return [_column(name, arrow, original, {"type": "number"}, None, described)]
    if original == "DoubleType":
        return [_column(name, pa.float64(), original, {"type": "number"}, None, described)]
    if original == "BooleanType":
        return [_column(name, pa.bool_(), original, {"type": "boolean"}, None, described)]
    if original == "DateTimeType":
        behavior = _behavior(extra.get("DateTimeBehavior"))
        if behavior == "DateOnly":
            return [_column(name, pa.date32(), original, {"type": "string", "format": "date"}, "Date only.", described)]
        note = "Time-zone independent: wall-clock time sent as UTC." if behavior == "TimeZoneIndependent" else None
        return [
            _column(
                name, pa.timestamp("us", tz="UTC"), original, {"type": "string", "format": "date-time"}, note, described
            )
        ]
    if original == "UniqueidentifierType":
        return [_column(name, pa.string(), original, UUID, None, described)]
    if original == "FileType":  # the id, plus size and MIME type from its fileattachment row (files.py)
        note = "File id (the file itself is not in the table)."
        return [_column(name, pa.string(), original, UUID, note, described), *companions(name)]
    if original in LOOKUP_TYPES:
        targets = [str(t) for t in extra.get("Targets") or ()]
        value = f"_{name}_value"
        note = f"Lookup to {', '.join(targets) or 'a table'} (id)."
        columns = [_column(value, pa.string(), original, UUID, note, described)]
        if lookup_targets:  # every lookup's target table (lookups.py): from metadata when it has one target
            columns.append(target_column(value, original, extra))
        return columns
    if original == "MultiSelectPicklistType":
        note = "Multi-select choice values as Dataverse sends them: comma-separated integers, e.g. '1,9'."
        return [_column(name, pa.string(), original, STRING, note, described)]
    if original == "ManagedPropertyType":
        return [_column(name, pa.string(), original, STRING, "Managed property as JSON text.", described)]
    return [_column(name, pa.string(), original, STRING, "Unrecognised Dataverse type, kept as text.", described)]


def image_columns(omitted: Sequence[tuple[str, str]], read: Sequence[Column]) -> list[str]:
    """Image columns (omitted from the table) whose ``<name>_timestamp`` helper is among the columns ``read``:
    those whose contents ``downloadFiles`` stores in the lake, keyed by that timestamp (``file_contents.py``)."""
    names = {c.name for c in read}
    image = OMIT_TYPES["ImageType"]
    return [name for name, why in omitted if why == image and f"{name}_timestamp" in names]


def build_schema(
    info: TableInfo,
    attributes: list[dict[str, Any]],
    details: Mapping[str, Mapping[str, Any]],
    *,
    lookup_targets: bool,
) -> tuple[TableSchema, tuple[tuple[str, str], ...]]:
    """Columns sorted (primary key first, then by name) so a schema is stable across calls."""
    types = {str(a.get("LogicalName")): type_name(a) for a in attributes}
    columns: dict[str, Column] = {}
    omitted: list[tuple[str, str]] = []
    for attribute in attributes:
        name = str(attribute.get("LogicalName"))
        parent = attribute.get("AttributeOf")
        if attribute.get("IsValidForRead") is False:
            omitted.append((name, OMIT_UNREADABLE))
            continue
        if parent and types.get(str(parent)) not in PARENTS_WITH_READABLE_HELPERS:
            omitted.append((name, OMIT_HELPER))
            continue
        mapped = map_attribute(attribute, details.get(name, {}), lookup_targets=lookup_targets)
        if isinstance(mapped, str):
            omitted.append((name, mapped))
            continue
        for column in mapped:
            columns[column.name] = column
    pk = info.primary_key
    if pk:
        base = columns.get(pk) or Column(pk, pa.string(), "UniqueidentifierType", UUID)
        columns[pk] = Column(
            name=pk,
            arrow_type=base.arrow_type,
            original_type=base.original_type,
            xdm=base.xdm,
            nullable=False,
            is_primary_key=True,
            description=base.description,
        )
    ordered = sorted(columns.values(), key=lambda c: (not c.is_primary_key, c.name))
    return TableSchema(table=info, columns=tuple(ordered)), tuple(sorted(omitted))
