"""Columns a read computes from the columns it decoded instead of reading them from the wire: a single-target
lookup's table (``lookups.py``) and a money row's ISO currency code (``money.py``)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from flowservice.ports import Column

from .http import DataverseHttp
from .lookups import TARGET_SUFFIX, fill_target
from .metadata import TableMeta
from .money import CURRENCY, ISO_COLUMN, CurrencyCodes


def is_derived(name: str, meta: TableMeta) -> bool:
    return name == ISO_COLUMN or any(name == companion for companion, _ in meta.single_targets)


def source_of(name: str) -> str:
    """The decoded column a derived column is computed from."""
    return CURRENCY if name == ISO_COLUMN else name[: -len(TARGET_SUFFIX)]


class Derive:
    """Appends the derived columns to a decoded batch (the reader then puts the columns in their order)."""

    def __init__(self, meta: TableMeta, columns: Sequence[Column], http: DataverseHttp) -> None:
        self.columns = tuple(columns)
        self.targets = dict(meta.single_targets)
        self.currencies = CurrencyCodes(http) if any(c.name == ISO_COLUMN for c in columns) else None

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        for column in self.columns:
            if column.name == ISO_COLUMN:
                assert self.currencies is not None
                array = self.currencies(batch)
            else:
                array = fill_target(batch, column.name, self.targets[column.name])
            batch = batch.append_column(pa.field(column.name, column.arrow_type, nullable=column.nullable), array)
        return batch
