"""Choice columns as a source connection asks for them: multi-select values as ``list<int32>`` (or the text
Dataverse sends), and, with ``choiceLabels`` on, a ``<column>_label`` companion beside every picklist, state,
status and multi-select column, in the org's base language or ``labelLanguage``.

The wire read never changes: ``ChoiceView.wire_columns`` says what to ask Dataverse for (a label's parent
column), and ``ChoiceView.apply`` turns each decoded batch into the view's columns with vectorised Arrow kernels
(``split_pattern`` + ``cast`` for multi-select text, ``index_in`` + ``take`` for labels). With labels off and no
multi-select column read, ``apply`` returns the batch as it is: no extra work.

Labels come from option-set metadata (``option_sets.py``). A value without an option in metadata gets a null
label, so an option deleted in the org shows as a value without a label instead of failing the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from flowservice.domain.errors import InvalidRequest, SourceError
from flowservice.ports import Column, TableSchema

LABEL_SUFFIX = "_label"
SINGLE_CHOICES = frozenset({"PicklistType", "StateType", "StatusType"})
MULTI_CHOICE = "MultiSelectPicklistType"
MULTI_FORMATS = ("list", "text")
#: The source connection params this module reads (the connection spec declares them).
PARAMS = ("choiceLabels", "labelLanguage", "multiSelectFormat")
LABEL_COLUMN = "Choice label"


@dataclass(frozen=True)
class ChoiceParams:
    """What a source connection (or an explore request) asks of choice columns."""

    labels: bool = False
    language: int | None = None  # None: the org's base language
    multi_select: str = "list"

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> ChoiceParams:
        """From a source connection's params (JSON types) or explore's query string (text); refuses bad values."""
        raw = raw or {}
        labels = raw.get("choiceLabels", False)
        if isinstance(labels, str) and labels.strip().lower() in ("true", "false"):
            labels = labels.strip().lower() == "true"
        if not isinstance(labels, bool):
            raise InvalidRequest("choiceLabels must be true or false.")
        language = raw.get("labelLanguage")
        if isinstance(language, str) and language.strip().isdigit():
            language = int(language.strip())
        if language is not None and (isinstance(language, bool) or not isinstance(language, int) or language <= 0):
            raise InvalidRequest("labelLanguage must be a language code (LCID), e.g. 1033 or 1031.")
        if language is not None and not labels:
            raise InvalidRequest("labelLanguage chooses the language of choice labels: it needs choiceLabels true.")
        multi = raw.get("multiSelectFormat", "list")
        if multi not in MULTI_FORMATS:
            raise InvalidRequest(f"multiSelectFormat must be one of {', '.join(MULTI_FORMATS)}.")
        return cls(labels=labels, language=language, multi_select=str(multi))


@dataclass(frozen=True)
class ChoiceView:
    """A table's schema as the params shape it: ``schema`` is what describe, preview and read hand back."""

    base: TableSchema
    params: ChoiceParams
    schema: TableSchema
    parents: Mapping[str, str] = field(default_factory=dict)  # label column → its choice column

    def wire_columns(self, columns: Sequence[str] | None) -> list[str] | None:
        """The base columns to read for the view's ``columns`` (a label needs its choice column)."""
        if columns is None:
            return None
        known = {c.name for c in self.schema.columns}
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise InvalidRequest(f"Unknown column(s) of {self.base.table.name}: {', '.join(unknown)}")
        return list(dict.fromkeys(self.parents.get(c, c) for c in columns))

    def out_names(self, columns: Sequence[str] | None) -> list[str]:
        """The view's columns a read of ``columns`` hands back, in the schema's order, primary key included."""
        if columns is None:
            return [c.name for c in self.schema.columns]
        wanted = set(columns) | {self.base.table.primary_key}
        return [c.name for c in self.schema.columns if c.name in wanted]

    def apply(
        self, batch: pa.RecordBatch, names: Sequence[str], labels: Mapping[str, Mapping[int, str]]
    ) -> pa.RecordBatch:
        """``batch`` (base columns) as the view's columns ``names``; ``labels``: choice column → value → label."""
        if not self.parents and not self._multi(batch):
            return batch
        by_name = {c.name: c for c in self.schema.columns}
        lists: dict[str, pa.Array] = {}  # multi-select values split once, for the column and its labels

        def values_of(name: str) -> pa.Array:
            if name not in lists:
                lists[name] = multi_values(batch.column(name), f"{self.base.table.name}.{name}")
            return lists[name]

        arrays: list[pa.Array] = []
        for name in names:
            parent = self.parents.get(name)
            column = by_name[name]
            if parent is None:
                as_list = column.original_type == MULTI_CHOICE and pa.types.is_list(column.arrow_type)
                arrays.append(values_of(name) if as_list else batch.column(name))
            elif pa.types.is_list(column.arrow_type):
                arrays.append(multi_labels(values_of(parent), labels.get(parent) or {}))
            else:
                arrays.append(single_labels(batch.column(parent), labels.get(parent) or {}))
        fields = [pa.field(n, by_name[n].arrow_type, nullable=by_name[n].nullable) for n in names]
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))

    def _multi(self, batch: pa.RecordBatch) -> bool:
        return self.params.multi_select == "list" and any(
            c.original_type == MULTI_CHOICE and c.name in batch.schema.names for c in self.base.columns
        )


def choice_view(base: TableSchema, params: ChoiceParams) -> ChoiceView:
    """The schema ``params`` make of ``base``: multi-select as lists, a label after each choice column."""
    names = {c.name for c in base.columns}
    columns: list[Column] = []
    parents: dict[str, str] = {}
    for column in base.columns:
        multi = column.original_type == MULTI_CHOICE
        as_list = multi and params.multi_select == "list"
        if as_list:
            column = Column(
                name=column.name,
                arrow_type=pa.list_(pa.int32()),
                original_type=column.original_type,
                xdm={"type": "array", "items": {"type": "integer"}},
                nullable=column.nullable,
                description=_described(column, "Multi-select choice values, as a list of integers."),
            )
        columns.append(column)
        if params.labels and (multi or column.original_type in SINGLE_CHOICES):
            name = f"{column.name}{LABEL_SUFFIX}"
            if name in names:
                raise SourceError(
                    f"{base.table.name} has a column {name!r} already: its {column.name} label cannot be added."
                )
            list_labels = multi and as_list
            columns.append(
                Column(
                    name=name,
                    arrow_type=pa.list_(pa.string()) if list_labels else pa.string(),
                    original_type=LABEL_COLUMN,
                    xdm={"type": "array", "items": {"type": "string"}} if list_labels else {"type": "string"},
                    description=f"Label of {column.name} from its option set metadata"
                    + ("; '; '-separated for text multi-select." if multi and not as_list else "."),
                )
            )
            parents[name] = column.name
    return ChoiceView(base, params, TableSchema(base.table, tuple(columns)), parents)


def _described(column: Column, note: str) -> str:
    first = (column.description or "").split("Multi-select choice values as Dataverse sends them")[0].strip()
    return f"{first} {note}".strip()


# ------------------------------------------------------------------------------------------ Arrow kernels


def multi_values(text: pa.Array, where: str) -> pa.Array:
    """``"1,9"`` → ``[1, 9]`` (null stays null, ``""`` is an empty list); a non-integer part fails loudly."""
    if pa.types.is_list(text.type):
        return text
    parts = pc.split_pattern(text, ",")
    flat = pc.utf8_trim_whitespace(parts.flatten())
    if len(flat) and pc.any(pc.equal(flat, "")).as_py():
        cleaned = [None if v is None else [int(p) for p in v.split(",") if p.strip()] for v in text.to_pylist()]
        return pa.array(cleaned, type=pa.list_(pa.int32()))
    try:
        values = pc.cast(flat, pa.int32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        message = f"Dataverse sent a multi-select value in {where} that is not comma-separated integers: {exc}"
        raise SourceError(message) from None
    return pa.ListArray.from_arrays(parts.offsets, values, mask=parts.is_null())


def _lookup(values: pa.Array, mapping: Mapping[int, str]) -> pa.Array:
    if not mapping:
        return pa.nulls(len(values), pa.string())
    keys = pa.array(list(mapping), pa.int32())
    texts = pa.array(list(mapping.values()), pa.string())
    return pc.take(texts, pc.index_in(pc.cast(values, pa.int32()), value_set=keys))


def single_labels(values: pa.Array, mapping: Mapping[int, str]) -> pa.Array:
    """Each value's label (null for null and for a value not in the option set)."""
    if pa.types.is_string(values.type):  # multi-select kept as text: labels joined as Dataverse formats them
        lists = multi_values(values, "a multi-select column")
        joined = pc.binary_join(multi_labels(lists, mapping), "; ")
        return joined
    return _lookup(values, mapping)


def multi_labels(lists: pa.Array, mapping: Mapping[int, str]) -> pa.Array:
    """Each list of values as the list of their labels (same offsets)."""
    if lists.offset:  # a slice: offsets that start at 0 again (Arrow cannot pair sliced offsets with a mask)
        lists = pa.concat_arrays([pa.array([], lists.type), lists])
    flat = _lookup(lists.values, mapping)  # ``values`` (not ``flatten``): the offsets index it
    return pa.ListArray.from_arrays(lists.offsets, flat, mask=lists.is_null())
