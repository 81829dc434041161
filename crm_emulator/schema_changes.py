"""Metadata changes made in the org while a connector reads it (schema drift), driven by the admin API.

``POST /_emulator/metadata/{table}`` with one change:

* ``{"op": "add", "column": "cr6f1_tier", "type": "String", "max_length": 100, "values": ["a", "b"]}`` adds a
  custom column; existing rows get one of ``values`` each (seeded; ``null`` when none are given);
* ``{"op": "widen", "column": "name", "max_length": 400}`` / ``{"type": "BigInt"}`` (from Integer) /
  ``{"precision": 6}`` (Decimal) widens a column in place; values stay;
* ``{"op": "delete", "column": "x"}`` deletes a column: it leaves the metadata and the rows served;
* ``{"op": "relabel", "column": "industrycode", "value": 1, "label": "Bookkeeping"}`` renames an option's
  label (in every table that shares a global option set).

Each change is visible in ``$metadata``, ``EntityDefinitions`` and the rows; the changed attribute's
``ModifiedOn`` moves to the time of the change, and ``GET /_emulator/metadata`` lists the changes with a
metadata version counter. Rendered rows of the table are dropped (and the on-disk render store is no longer
used), so that nothing stale is served.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from crm_emulator.data import OrgData
from crm_emulator.metadata_api import MetadataApi
from crm_emulator.rows import Bundle, TableRows, TableSpec
from crm_emulator.schema import Column, Table

#: Types a column can be added with: the admin API's name -> (type name, default max length / precision).
ADDABLE = {
    "String": "StringType",
    "Memo": "MemoType",
    "Integer": "IntegerType",
    "BigInt": "BigIntType",
    "Decimal": "DecimalType",
    "Double": "DoubleType",
    "Boolean": "BooleanType",
}


def _one_of(values: tuple[Any, ...]) -> Callable[[random.Random, Any], tuple[Any, ...]]:
    """A bundle maker giving each row one of ``values`` (the rows' variant bits pick which)."""

    def make(rng: random.Random, org: Any) -> tuple[Any, ...]:
        return (values[rng.randrange(len(values))],)

    return make


def _reindex(table: Table) -> None:
    """Rebuild the table's indexes; columns keep their ``ColumnNumber``, a new one gets the next number."""
    numbers = {id(c): c.number for c in table.columns if c.number}
    Table.__post_init__(table)
    top = max(numbers.values(), default=0)
    for col in table.columns:
        if id(col) in numbers:
            col.number = numbers[id(col)]
        else:
            top += 1
            col.number = top


class SchemaChangeError(ValueError):
    """A change the emulator cannot make (answered 400 by the admin API)."""


class SchemaChanges:
    def __init__(self, data: OrgData, metadata: MetadataApi, seed: int) -> None:
        self.data = data
        self.metadata = metadata
        self.seed = seed
        self.version = 0
        self.log: list[dict[str, Any]] = []
        #: Columns deleted from each table, kept for the row generators (which still produce them).
        self.deleted: dict[str, list[Column]] = {}
        self.added_bundles: dict[str, list[Bundle]] = {}

    def public(self) -> dict[str, Any]:
        return {"metadata_version": self.version, "changes": self.log}

    def apply(self, table_name: str, change: dict[str, Any]) -> dict[str, Any]:
        table = self.data.catalog.by_logical.get(table_name)
        if table is None:
            raise SchemaChangeError(f"no table {table_name!r}")
        op, name = change.get("op"), change.get("column")
        if not isinstance(name, str) or not name:
            raise SchemaChangeError('expected "column": a column logical name')
        if op == "add":
            self._add(table, name, change)
        elif op == "widen":
            self._widen(table, self._column(table, name), change)
        elif op == "delete":
            self._delete(table, self._column(table, name))
        elif op == "relabel":
            self._relabel(self._column(table, name), change)
        else:
            raise SchemaChangeError('expected "op": "add" | "widen" | "delete" | "relabel"')
        self.version += 1
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.metadata.modified[(table_name, name)] = stamp
        entry = {"version": self.version, "table": table_name, "at": stamp, **change}
        self.log.append(entry)
        self._rebuild(table)
        return entry

    @staticmethod
    def _column(table: Table, name: str) -> Column:
        col = table.by_name.get(name)
        if col is None:
            raise SchemaChangeError(f"{table.logical_name} has no column {name!r}")
        return col

    def _add(self, table: Table, name: str, change: dict[str, Any]) -> None:
        if name in table.by_name:
            raise SchemaChangeError(f"{table.logical_name} already has a column {name!r}")
        type_name = ADDABLE.get(str(change.get("type", "String")))
        if type_name is None:
            raise SchemaChangeError(f"type must be one of {sorted(ADDABLE)}")
        col = Column(
            name,
            type_name,
            display=str(change.get("display") or ""),
            max_length=int(change.get("max_length", 100)) if type_name in ("StringType", "MemoType") else None,
            precision=int(change.get("precision", 2)) if type_name in ("DecimalType", "DoubleType") else None,
            custom=True,
        )
        values = change.get("values")
        if values is not None and (not isinstance(values, list) or not values):
            raise SchemaChangeError('"values" must be a non-empty list')
        table.columns.append(col)
        _reindex(table)
        if values:
            bundle = Bundle((col.prop,), _one_of(tuple(values)))
            self.added_bundles.setdefault(table.logical_name, []).append(bundle)

    @staticmethod
    def _widen(table: Table, col: Column, change: dict[str, Any]) -> None:
        if "max_length" in change:
            if col.type_name not in ("StringType", "MemoType"):
                raise SchemaChangeError(f"{col.name} is not a text column")
            new = int(change["max_length"])
            if new < (col.max_length or 0):
                raise SchemaChangeError("a MaxLength can only grow")
            col.max_length = new
        if "type" in change:
            if (col.type_name, change["type"]) != ("IntegerType", "BigInt"):
                raise SchemaChangeError("only Integer -> BigInt is a widening type change")
            col.type_name = "BigIntType"
            col.min_value, col.max_value = -9223372036854775808, 9223372036854775807
        if "precision" in change:
            if col.type_name not in ("DecimalType", "DoubleType", "MoneyType"):
                raise SchemaChangeError(f"{col.name} has no precision")
            new = int(change["precision"])
            if new < (col.precision or 0):
                raise SchemaChangeError("a precision can only grow")
            col.precision = new
        if not {"max_length", "type", "precision"} & set(change):
            raise SchemaChangeError('widen needs "max_length", "type": "BigInt" or "precision"')

    def _delete(self, table: Table, col: Column) -> None:
        if col.primary_id or col.primary_name:
            raise SchemaChangeError("the primary id and primary name columns cannot be deleted")
        table.columns.remove(col)
        _reindex(table)
        self.deleted.setdefault(table.logical_name, []).append(col)

    def _relabel(self, col: Column, change: dict[str, Any]) -> None:
        value, text = change.get("value"), change.get("label")
        if not isinstance(value, int) or not isinstance(text, str) or not text:
            raise SchemaChangeError('relabel needs "value" (an option value) and "label"')
        if col.option_label(value) is None:
            raise SchemaChangeError(f"{col.name} has no option {value}")
        sharing = [col]
        if col.global_option_set:
            sharing = [
                c
                for t in self.data.catalog.tables
                for c in t.columns
                if c.global_option_set and c.option_set_name == col.option_set_name
            ]
        for c in sharing:
            c.options = tuple(dataclasses.replace(o, label=text) if o.value == value else o for o in c.options)
            c._option_map = {o.value: o.label for o in c.options}
            self._rebuild(self.data.catalog.by_logical[c.table])

    def _rebuild(self, table: Table) -> None:
        """New generators for the table's rows, over its columns plus the deleted ones (then hidden)."""
        name = table.logical_name
        data = self.data
        spec = next(s for s in data.catalog.specs if s.table.logical_name == name)
        deleted = self.deleted.get(name, [])
        gen_table = table
        if deleted:
            numbers = [c.number for c in table.columns]
            gen_table = dataclasses.replace(table, columns=[*table.columns, *deleted])
            for col, number in zip(table.columns, numbers, strict=True):  # the copy renumbered them
                col.number = number
        new_spec = TableSpec(
            gen_table, spec.count, spec.row, [*spec.bundles, *self.added_bundles.get(name, [])], spec.heads
        )
        try:
            rows = TableRows(new_spec, data.org, self.seed)
        except ValueError as exc:
            raise SchemaChangeError(str(exc)) from exc
        if deleted:
            rows.hide(frozenset(c.prop for c in deleted))
        data.rows[name] = rows
        cache = data.rendered.cache
        for key in [k for k in cache.chunks if k[0] == name]:
            cache.size -= cache.chunks.pop(key).size
        data.rendered.store = None
        self.metadata.forget()
