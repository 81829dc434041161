"""``optionsetmetadata``: the org's choice labels as a table the source lists, describes, previews and reads like
any other, so that a flow lands them with the same exactly-once machinery (commits with their cursor, merge on
the key, deletes by the full resync's anti-join) and they can be joined at query time, as Synapse Link's
``OptionsetMetadata`` is.

One row per (table, column, value, language): every ``LocalizedLabel`` of every option of every picklist,
state, status and multi-select column. The key ``optionsetmetadataid`` is ``<table>.<column>.<value>.<language>``
(the engine merges on one column). The table is read in full every run (metadata has no change tracking), one
page per Dynamics table, in name order; the cursor after a page names that table, so a run resumes after it.
Which tables: the source connection's ``optionSetTables``, else every table the org lists (up to four metadata
requests each, one per choice class present).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from flowservice.domain.errors import InvalidRequest, NotFound
from flowservice.ports import Column, CursorInfo, Page, TableInfo, TableSchema

from .metadata import INT32, STRING, check_table_name
from .option_sets import CHOICE_CLASSES, USER_LANGUAGE, ChoiceOptions

OPTION_SET_TABLE = "optionsetmetadata"
MODE = "optionsets"
KEY = "optionsetmetadataid"

INFO = TableInfo(
    name=OPTION_SET_TABLE,
    display_name="Option set metadata (choice labels of every table)",
    entity_set="",
    primary_key=KEY,
    change_tracking=False,
)


def _col(name: str, arrow: pa.DataType, xdm: dict[str, Any], text: str, pk: bool = False) -> Column:
    return Column(
        name=name,
        arrow_type=arrow,
        original_type="OptionSetMetadata",
        xdm=xdm,
        nullable=not pk,
        is_primary_key=pk,
        description=text,
    )


SCHEMA = TableSchema(
    INFO,
    (
        _col(KEY, pa.string(), STRING, "<tablename>.<columnname>.<value>.<languagecode>: the merge key.", True),
        _col("tablename", pa.string(), STRING, "Logical name of the table."),
        _col("columnname", pa.string(), STRING, "Logical name of the choice column."),
        _col("value", pa.int32(), INT32, "The option's value, as the column holds it."),
        _col("label", pa.string(), STRING, "The option's label in languagecode."),
        _col("languagecode", pa.int32(), INT32, "Language code (LCID) of the label, e.g. 1033."),
        _col("isglobal", pa.bool_(), {"type": "boolean"}, "True when the column uses a global option set."),
        _col("optionsetname", pa.string(), STRING, "Name of the option set (a global set's name is shared)."),
    ),
)


def is_option_set_table(table: str) -> bool:
    return table.strip().lower() == OPTION_SET_TABLE


def option_set_tables(raw: Any) -> list[str] | None:
    """The ``optionSetTables`` param: logical names, checked, or ``None`` for every table."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise InvalidRequest("optionSetTables must be an array of table logical names.")
    try:
        return sorted({check_table_name(t) for t in raw} - {OPTION_SET_TABLE})
    except NotFound as exc:
        raise InvalidRequest(f"optionSetTables: {exc.message}") from None


def rows(option_sets: Sequence[ChoiceOptions]) -> pa.RecordBatch:
    """The rows of some columns' options, one per label language (the caller's-language duplicate left out)."""
    out: dict[str, list[Any]] = {c.name: [] for c in SCHEMA.columns}
    for options in sorted(option_sets, key=lambda o: o.column):
        for value, labels in sorted(options.labels.items()):
            for language, text in sorted(labels.items()):
                if language == USER_LANGUAGE:
                    continue
                out[KEY].append(f"{options.table}.{options.column}.{value}.{language}")
                out["tablename"].append(options.table)
                out["columnname"].append(options.column)
                out["value"].append(value)
                out["label"].append(text)
                out["languagecode"].append(language)
                out["isglobal"].append(options.is_global)
                out["optionsetname"].append(options.option_set)
    return pa.RecordBatch.from_pydict(out, schema=SCHEMA.arrow_schema())


def select(batch: pa.RecordBatch, columns: Sequence[str] | None) -> pa.RecordBatch:
    if columns is None:
        return batch
    known = set(batch.schema.names)
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise InvalidRequest(f"Unknown column(s) of {OPTION_SET_TABLE}: {', '.join(unknown)}")
    wanted = set(columns) | {KEY}
    return batch.select([n for n in batch.schema.names if n in wanted])


def read_pages(
    tables: Sequence[str],
    fetch: Any,
    columns: Sequence[str] | None,
    cursor: dict[str, Any] | None,
) -> Iterator[Page]:
    """Pages of the table from ``cursor``: ``fetch(table)`` gives a table's options (all choice classes).

    A first read (no cursor) is a plain load; every later one is a full resync, so the engine deletes the rows of
    options (or tables) gone from the org. The cursor after a page is ``{"mode": "optionsets", "after": <table>,
    "full_resync": ...}``; the final one is ``{"mode": "optionsets"}``."""
    cursor = cursor or {}
    resuming = cursor.get("mode") == MODE and isinstance(cursor.get("after"), str)
    full_resync = bool(cursor.get("full_resync")) if resuming else bool(cursor)
    after = str(cursor["after"]) if resuming else None
    todo = [t for t in sorted(tables) if after is None or t > after]
    if not todo:
        yield Page(batch=select(rows([]), columns), cursor={"mode": MODE}, final=True, full_resync=full_resync)
        return
    for i, table in enumerate(todo):
        last = i == len(todo) - 1
        batch = select(rows(list(fetch(table).values())), columns)
        page_cursor: dict[str, Any] = {"mode": MODE}
        if not last:
            page_cursor.update(after=table, full_resync=full_resync)
        yield Page(batch=batch, cursor=page_cursor, final=last, full_resync=full_resync)


def preview(tables: Sequence[str], fetch: Any, columns: Sequence[str] | None, count: int) -> pa.Table:
    """The first ``count`` rows, reading only as many tables as they need."""
    batches: list[pa.RecordBatch] = []
    total = 0
    for table in sorted(tables):
        batch = select(rows(list(fetch(table).values())), columns)
        batches.append(batch)
        total += batch.num_rows
        if total >= count:
            break
    schema = batches[0].schema if batches else select(rows([]), columns).schema
    return pa.Table.from_batches(batches, schema=schema).slice(0, count)


def cursor_info(cursor: dict[str, Any]) -> CursorInfo:
    return CursorInfo(mid_read=isinstance(cursor.get("after"), str))


ALL_CHOICE_TYPES = tuple(CHOICE_CLASSES)
