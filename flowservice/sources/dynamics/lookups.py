"""Lookup columns and their companions: the target table of every lookup, and (on request) the referenced
record's primary name.

A lookup lands as ``_<name>_value`` (the GUID). Its companions:

* ``_<name>_value_lookuplogicalname``, the table the GUID points into, for every lookup. A lookup with one
  target (``LookupType`` with one ``Targets`` entry) is filled from metadata where the GUID is set: no byte
  on the wire. A polymorphic one (Customer, Owner, several targets) is read from the
  ``Microsoft.Dynamics.CRM.lookuplogicalname`` annotation, which is requested only when such a column is read.
* ``_<name>_value_name``, the referenced record's primary name, only for a source connection with
  ``lookupNames`` on. It is the lookup's ``OData.Community.Display.V1.FormattedValue`` annotation, not an
  ``$expand`` of the navigation property with ``$select=<primary name>``: change tracking refuses
  ``$expand`` (reference §5.2), so an expand could not serve the incremental reads that are most runs, and an
  expanded object (etag, key and name of the related record) weighs more than the annotation's one string.
  The annotation is not free either: Dataverse sends the FormattedValue term for every formatted column of
  the ``$select`` (choices, money, dates, booleans), which is why names are opt-in. A name is the one the
  referenced record had when the row was read: renaming the account does not rewrite the contacts landed
  before (join the referenced table's own dataset for the current name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from flowservice.ports import Column, TableSchema

TARGET_SUFFIX = "_lookuplogicalname"
NAME_SUFFIX = "_name"
TARGET_ANNOTATION = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAME_ANNOTATION = "OData.Community.Display.V1.FormattedValue"
LOOKUP_TYPES = frozenset({"LookupType", "CustomerType", "OwnerType"})
STRING = {"type": "string"}
_COMPANION = re.compile(r"(_[a-z0-9_]+_value)(_lookuplogicalname|_name)")
_ANNOTATIONS = {TARGET_SUFFIX: TARGET_ANNOTATION, NAME_SUFFIX: NAME_ANNOTATION}


def targets_of(extra: Mapping[str, Any]) -> list[str]:
    return [str(t) for t in extra.get("Targets") or ()]


def single_target(type_name: str, extra: Mapping[str, Any]) -> str | None:
    """The one table a lookup points into, or None for a polymorphic lookup."""
    targets = targets_of(extra)
    return targets[0] if type_name == "LookupType" and len(targets) == 1 else None


def target_column(value: str, type_name: str, extra: Mapping[str, Any]) -> Column:
    targets = targets_of(extra)
    one = single_target(type_name, extra)
    note = (
        f"Table of {value}: {one} wherever it is set (from metadata)."
        if one
        else f"Table of {value} (one of {', '.join(targets) or 'several'})."
    )
    xdm = {**STRING, "enum": targets} if targets else dict(STRING)
    return Column(f"{value}{TARGET_SUFFIX}", pa.string(), "EntityNameType", xdm, description=note)


def name_column(value: str) -> Column:
    return Column(
        f"{value}{NAME_SUFFIX}",
        pa.string(),
        "StringType",
        dict(STRING),
        description=f"Primary name of the record {value} points to, as it was when the row was read.",
    )


def wire_companion(name: str) -> tuple[str, str] | None:
    """``(lookup column, annotation term)`` when ``name`` is a companion read from an annotation."""
    match = _COMPANION.fullmatch(name)
    return (match.group(1), _ANNOTATIONS[match.group(2)]) if match else None


def single_targets(
    schema: TableSchema, attributes: Iterable[Mapping[str, Any]], details: Mapping[str, Any]
) -> dict[str, str]:
    """Target companions of ``schema`` filled from metadata: companion name → its lookup's one target."""
    names = {c.name for c in schema.columns}
    found: dict[str, str] = {}
    for attribute in attributes:
        type_value = attribute.get("AttributeTypeName")
        type_name = str(type_value.get("Value") if isinstance(type_value, Mapping) else type_value)
        if type_name not in LOOKUP_TYPES:
            continue
        name = str(attribute.get("LogicalName"))
        one = single_target(type_name, details.get(name, {}))
        companion = f"_{name}_value{TARGET_SUFFIX}"
        if one and companion in names:
            found[companion] = one
    return found


def with_names(schema: TableSchema) -> TableSchema:
    """``schema`` with a name companion after each lookup (a source connection with ``lookupNames``)."""
    lookups = [c for c in schema.columns if c.original_type in LOOKUP_TYPES and c.name.endswith("_value")]
    if not lookups:
        return schema
    columns = {c.name: c for c in schema.columns}
    for column in lookups:
        columns.setdefault(f"{column.name}{NAME_SUFFIX}", name_column(column.name))
    ordered = sorted(columns.values(), key=lambda c: (not c.is_primary_key, c.name))
    return replace(schema, columns=tuple(ordered))


def fill_target(batch: pa.RecordBatch, companion: str, target: str) -> pa.Array:
    """The target table wherever the lookup is set, null where it is not."""
    value = batch.column(companion[: -len(TARGET_SUFFIX)])
    return pc.if_else(pc.is_valid(value), pa.scalar(target, pa.string()), pa.scalar(None, pa.string()))
