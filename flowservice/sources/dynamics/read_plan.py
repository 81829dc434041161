"""What a read asks Dataverse for and what it hands back: the columns decoded from the wire, those derived
from them, the page size and the annotations their companions need (``Prefer``), from the table's schema and
metadata and the flow's columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flowservice.domain.errors import InvalidRequest
from flowservice.ports import Column, TableSchema

from .convert import annotation_terms, select_names
from .derived import is_derived, source_of
from .metadata import TableMeta


@dataclass(frozen=True)
class ReadPlan:
    """What to ask for and what to hand back."""

    meta: TableMeta
    out: tuple[Column, ...]  # the batch columns: requested ones, primary key first
    fetch: tuple[Column, ...]  # what is decoded: ``out`` but ``derived``, plus the watermark column and the
    # columns ``derived`` needs when they were not requested
    page_size: int
    annotations: tuple[str, ...]  # annotation terms the companions in ``fetch`` need
    derived: tuple[Column, ...] = ()  # computed from decoded columns (``derived.py``), not read from the wire

    @property
    def table(self) -> str:
        return self.meta.info.name

    def prefer(self, *extra: str, page_size: int | None = None) -> list[str]:
        prefs = [*extra, f"odata.maxpagesize={page_size or self.page_size}"]
        if self.annotations:
            prefs.append(f'odata.include-annotations="{",".join(self.annotations)}"')
        return prefs

    def select(self, skip: frozenset[str] | set[str] = frozenset()) -> str:
        return ",".join(n for n in select_names(self.fetch) if n not in skip)


def plan_read(
    schema: TableSchema, meta: TableMeta, columns: Sequence[str] | None, page_size: int, extra: str | None = None
) -> ReadPlan:
    by_name = {c.name: c for c in schema.columns}
    if columns is None:
        wanted = list(schema.columns)
    else:
        unknown = [c for c in columns if c not in by_name]
        if unknown:
            raise InvalidRequest(f"Unknown column(s) of {meta.info.name}: {', '.join(unknown)}")
        pk = meta.info.primary_key
        names = dict.fromkeys([pk, *columns] if pk else columns)
        wanted = [by_name[n] for n in names if n in by_name]
    derived = [c for c in wanted if is_derived(c.name, meta)]
    fetch = [c for c in wanted if c not in derived]
    for name in [*(source_of(c.name) for c in derived), extra]:
        if name and name in by_name and all(c.name != name for c in fetch):
            fetch.append(by_name[name])
    size = max(1, min(int(page_size), meta.max_page_size))
    return ReadPlan(
        meta=meta,
        out=tuple(wanted),
        fetch=tuple(fetch),
        page_size=size,
        annotations=annotation_terms(fetch),
        derived=tuple(derived),
    )
