"""Records on the wire: rendering with ``$select``/annotations/``$expand``, and parsing write payloads."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

import orjson

from crm_emulator.data import Item, OrgData
from crm_emulator.errors import DataverseError, bad_request, unsupported
from crm_emulator.ids import normalize_guid
from crm_emulator.prefer import FORMATTED, LOGICAL_NAME, NAVIGATION, Preferences
from crm_emulator.render import formatted_value, json_value
from crm_emulator.schema import Column, Table
from crm_emulator.shapes import Shape

ETAG_HEAD = b'"@odata.etag":"W/\\"'


class Renderer:
    """Renders items of one table for one request (its $select, annotation preferences and $expand)."""

    def __init__(
        self,
        data: OrgData,
        table: Table,
        select: list[str] | None,
        prefs: Preferences,
        expand: list[tuple[Column, str, list[str] | None]] | None = None,
    ) -> None:
        self.data = data
        self.table = table
        self.rows = data.rows[table.logical_name]
        self.prefs = prefs
        self.fv = prefs.wants(FORMATTED)
        self.nav = prefs.wants(NAVIGATION)
        self.ll = prefs.wants(LOGICAL_NAME)
        self.expand = expand or []
        pk = table.primary_id
        if select is None:
            self.props = list(self.rows.order)
        else:
            props = list(dict.fromkeys(select))
            # Selecting a money column brings its currency along (reference §4.1/§4.2).
            money = any(table.by_prop[p].type_name == "MoneyType" for p in props)
            if (
                money
                and "_transactioncurrencyid_value" in table.by_prop
                and "_transactioncurrencyid_value" not in props
            ):
                props.append("_transactioncurrencyid_value")
            if pk not in props:
                props.append(pk)
            self.props = props
        self.cols = [table.by_prop[p] for p in self.props]
        self.prefixes = [b'"' + p.encode() + b'":' for p in self.props]
        # Generated rows take the fast path in any $select, with or without lookuplogicalname annotations;
        # formatted values, navigation annotations and $expand need the general one.
        self.shape = Shape(self.rows.props.difference(self.props), self.ll)
        self.fast = not self.fv and not self.nav and not self.expand and self.rows.props.issuperset(self.props)

    def render_many(self, items: Sequence[Item]) -> list[bytes | memoryview]:
        """Items as comma-separable pieces: one per record, or one per run of untouched generated rows."""
        if self.fast:
            name = self.table.logical_name
            if self.data.untouched(name):  # no created or updated rows: every item is a generated row
                return self.data.render_base(name, cast(Sequence[int], items), self.shape)
            out: list[bytes | memoryview] = []
            run: list[int] = []
            for item in items:
                if isinstance(item, int):
                    run.append(item)
                    continue
                if run:
                    out.extend(self.data.render_base(name, run, self.shape))
                    run = []
                out.append(self.render(item))
            if run:
                out.extend(self.data.render_base(name, run, self.shape))
            return out
        return [self.render(item) for item in items]

    def render(self, item: Item) -> bytes:
        values = self.data.values(self.table.logical_name, item)
        return self.render_values(values)

    def render_values(self, values: dict[str, Any]) -> bytes:
        parts = [b"{", ETAG_HEAD, str(values.get("versionnumber") or 0).encode(), b'\\"",']
        currency = None
        for prefix, col in zip(self.prefixes, self.cols, strict=True):
            value = values.get(col.prop)
            if value is not None and (self.fv or self.nav or self.ll):
                self._annotations(parts, col, value, values, currency)
            parts.append(prefix)
            parts.append(json_value(col, value))
            parts.append(b",")
        for col, nav, nested in self.expand:
            parts.append(b'"' + nav.encode() + b'":')
            parts.append(self._expanded(col, nav, values.get(col.prop), nested))
            parts.append(b",")
        parts[-1] = b"}"
        return b"".join(parts)

    def _annotations(
        self, parts: list[bytes], col: Column, value: Any, values: dict[str, Any], currency: str | None
    ) -> None:
        p = col.prop
        if col.is_lookup:
            target = self.data.table_of_id(value, col.targets) or col.targets[0]
            if self.fv:
                name = self.data.primary_name(target, value)
                if name is not None:
                    parts.append(orjson.dumps(f"{p}@{FORMATTED}") + b":" + orjson.dumps(name) + b",")
            if self.nav:
                # Owner lookups have one navigation property (ownerid, to principal); customer lookups one per target.
                nav = col.nav if len(col.targets) == 1 or col.type_name == "OwnerType" else f"{col.nav}_{target}"
                parts.append(orjson.dumps(f"{p}@{NAVIGATION}") + b":" + orjson.dumps(nav) + b",")
            if self.ll:
                parts.append(orjson.dumps(f"{p}@{LOGICAL_NAME}") + b":" + orjson.dumps(target) + b",")
            return
        if self.fv:
            if col.type_name == "MoneyType":
                currency = self.data.currency_code(values.get("_transactioncurrencyid_value"))
            text = formatted_value(col, value, currency)
            if text is not None:
                parts.append(orjson.dumps(f"{p}@{FORMATTED}") + b":" + orjson.dumps(text) + b",")

    def _expanded(self, col: Column, nav: str, value: Any, nested: list[str] | None) -> bytes:
        if value is None:
            return b"null"
        target = nav.rpartition("_")[2] if len(col.targets) > 1 else col.targets[0]
        actual = self.data.table_of_id(value, col.targets)
        if actual != target:
            return b"null"
        item = self.data.get(target, value)
        if item is None:
            return b"null"
        sub = Renderer(self.data, self.data.table(target), nested, self.prefs)
        return sub.render(item)


def resolve_expand(
    table: Table, expand: list[tuple[str, dict[str, str]]]
) -> list[tuple[Column, str, list[str] | None]]:
    """Single-valued navigation properties of lookups, with a nested ``$select`` (reference §4.1)."""
    navs: dict[str, Column] = {}
    for col in table.columns:
        if col.is_lookup and col.webapi:
            if len(col.targets) == 1:
                navs[col.nav or col.name] = col
            else:
                for target in col.targets:
                    navs[f"{col.nav}_{target}"] = col
    out = []
    for name, options in expand:
        found = navs.get(name)
        if found is None:
            raise bad_request(
                f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{table.logical_name}'."
            )
        col = found
        extra = set(options) - {"$select"}
        if extra:
            raise unsupported(f"The nested option(s) {sorted(extra)} in $expand")
        nested = [s.strip() for s in options["$select"].split(",")] if "$select" in options else None
        target = name.rpartition("_")[2] if len(col.targets) > 1 else col.targets[0]
        return_table_cols = None
        if nested:
            return_table_cols = nested
        out.append((col, name, return_table_cols))
    return out


# --- writes ------------------------------------------------------------------------------------------------
_BIND = re.compile(r"^(?:.*/api/data/v9\.\d/)?/?([A-Za-z0-9_]+)\(([^)]+)\)$")


def invalid_property(name: str, table: Table) -> DataverseError:
    return bad_request(f"Invalid property '{name}' was found in entity 'Microsoft.Dynamics.CRM.{table.logical_name}'.")


def convert(col: Column, raw: Any, table: Table) -> Any:
    """A JSON value from a write payload as the column's Python value, validated like Dataverse does."""
    if raw is None:
        return None
    t = col.type_name
    fail = bad_request(
        f"Cannot convert the literal '{raw}' to the expected type '{col.edm_type}' for the property '{col.prop}'."
    )
    if t in ("StringType", "MemoType", "EntityNameType"):
        if not isinstance(raw, str):
            raise fail
        if col.max_length and len(raw) > col.max_length:
            raise bad_request(
                f"A validation error occurred. The length of the '{col.name}' attribute of the "
                f"'{table.logical_name}' entity exceeded the maximum allowed length of '{col.max_length}'."
            )
        return raw
    if t in ("IntegerType", "BigIntType", "PicklistType", "StateType", "StatusType"):
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise fail
        if t in ("PicklistType", "StateType", "StatusType") and col.option_label(raw) is None:
            raise bad_request(
                f"A validation error occurred. The value {raw} of '{col.name}' on record of type "
                f"'{table.logical_name}' is outside the valid range."
            )
        if col.min_value is not None and col.max_value is not None and not col.min_value <= raw <= col.max_value:
            raise bad_request(
                f"A validation error occurred. The value {raw} of '{col.name}' on record of type "
                f"'{table.logical_name}' is outside the valid range."
            )
        return raw
    if t in ("DecimalType", "MoneyType"):
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise fail
        try:
            value = Decimal(str(raw))
        except InvalidOperation as exc:
            raise fail from exc
        scale = 4 if t == "MoneyType" else (col.precision or 2)
        return value.quantize(Decimal(1).scaleb(-scale))
    if t == "DoubleType":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise fail
        return float(raw)
    if t == "BooleanType":
        if not isinstance(raw, bool):
            raise fail
        return raw
    if t == "DateTimeType":
        if not isinstance(raw, str):
            raise fail
        try:
            if col.date_only:
                return date.fromisoformat(raw[:10])
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise fail from exc
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return moment.replace(microsecond=0)
    if t in ("UniqueidentifierType", "FileType"):
        guid = normalize_guid(raw) if isinstance(raw, str) else None
        if guid is None:
            raise fail
        return guid
    if t == "MultiSelectPicklistType":
        if not isinstance(raw, str):
            raise fail
        values = [v for v in raw.split(",") if v.strip()]
        for v in values:
            if not v.strip().lstrip("-").isdigit() or col.option_label(int(v)) is None:
                raise bad_request(
                    f"A validation error occurred. The value {v} of '{col.name}' on record of type "
                    f"'{table.logical_name}' is outside the valid range."
                )
        return ",".join(str(int(v)) for v in values)
    if t == "ImageType":
        if not isinstance(raw, str):
            raise fail
        return raw
    raise unsupported(f"Writing the {col.attribute_type} column '{col.name}'")


def parse_payload(data: OrgData, table: Table, body: Any) -> dict[str, Any]:
    """Validate a POST/PATCH body; returns {prop: value} including lookups set through ``@odata.bind``."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    navs: dict[str, tuple[Column, str | None]] = {}
    for col in table.columns:
        if col.is_lookup and col.webapi:
            navs[col.nav or col.name] = (col, None)
            if len(col.targets) > 1:
                for target in col.targets:
                    navs[f"{col.nav}_{target}"] = (col, target)
    out: dict[str, Any] = {}
    for key, raw in body.items():
        if key.startswith(("@odata.", "@")):
            continue
        if key.endswith("@odata.bind"):
            nav = key[: -len("@odata.bind")]
            if nav not in navs:
                raise bad_request(
                    f"An undeclared property '{nav}' which only has property annotations in the "
                    "payload but no property value was found in the payload."
                )
            col, want_target = navs[nav]
            if not col.writable:
                raise invalid_property(nav, table)
            if raw is None:
                out[col.prop] = None
                continue
            m = _BIND.match(str(raw))
            target_table = data.catalog.by_set.get(m.group(1)) if m else None
            guid = normalize_guid(m.group(2)) if m else None
            if target_table is None or guid is None:
                raise bad_request(f"The @odata.bind value '{raw}' is not a valid entity reference.")
            if target_table.logical_name not in col.targets or (
                want_target and target_table.logical_name != want_target
            ):
                raise bad_request(f"The entity '{target_table.logical_name}' is not a valid target of '{nav}'.")
            if data.get(target_table.logical_name, guid) is None:
                raise DataverseError(404, "0x80040217", f"{target_table.logical_name} With Id = {guid} Does Not Exist")
            out[col.prop] = guid
            continue
        if "@" in key:
            continue
        prop_col = table.by_prop.get(key)
        if prop_col is None or prop_col.is_lookup:
            raise invalid_property(key, table)
        col = prop_col
        if not col.writable or col.attribute_of is not None:
            raise bad_request(
                f"The property '{key}' of 'Microsoft.Dynamics.CRM.{table.logical_name}' is read-only and cannot be set."
            )
        out[key] = convert(col, raw, table)
    return out
