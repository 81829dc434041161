"""The contract every source passes, against its own emulator.

Subclass :class:`SourceContract` (the name does not start with ``Test``, so it is only collected through
subclasses), say what the source can do in ``capabilities`` and provide the fixtures documented on it. See
``docs/adding-a-source.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa
import pytest

from flowservice.domain.errors import InvalidRequest, NotFound, SourceAuthError
from flowservice.ports import Page, SourceClient, TableSchema

T = TypeVar("T", bound=Callable[..., Any])

Change = Callable[[], tuple[set[str], set[str]]]


def keys(pages: list[Page], pk: str) -> list[str]:
    return [k for p in pages for k in p.batch.column(pk).to_pylist()]


@dataclass(frozen=True)
class Capabilities:
    """What the source can do with the contract's ``table``; a test of what it cannot do is not collected for it
    (never a skip: a skipped contract test would look like a gap)."""

    change_tracking: bool = True  # reads after the final cursor come from the source's change log; False:
    # watermark reads on the delta column (an inclusive bound, so rows at the watermark may be read again)
    deletes: bool = True  # reads after the final cursor report deleted keys (no watermark source can)
    preview: bool = True  # explore previews rows of the table
    throttling: bool = True  # the test double can make the source answer "slow down" (the ``throttle`` fixture)


def needs(capability: str) -> Callable[[T], T]:
    """Mark a contract test as one only sources declaring ``capability`` run."""

    def mark(test: T) -> T:
        test.needs_capability = capability  # type: ignore[attr-defined]
        return test

    return mark


class SourceContract:
    """Fixtures a subclass provides:

    ``source``                  a connected ``SourceClient``
    ``bad_credentials_source``  the same account with a wrong secret
    ``table``                   a table with a primary key and at least ``min_rows`` rows
    ``change``                  a callable that changes rows at the source and returns
                                ``(upserted keys, deleted keys)``
    ``throttle``                a callable that makes the next few data requests answer "slow down"
                                (only with ``capabilities.throttling``)
    ``read_kwargs``             extra keyword arguments for ``read`` (e.g. a small page size)
    """

    min_rows = 3
    capabilities = Capabilities()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Drop the tests of capabilities the source does not declare (pytest collects no ``None`` attribute)."""
        super().__init_subclass__(**kwargs)
        for name in dir(cls):
            needed = getattr(getattr(cls, name), "needs_capability", None)
            if needed is not None and not getattr(cls.capabilities, needed):
                setattr(cls, name, None)

    @pytest.fixture
    def read_kwargs(self) -> dict[str, Any]:
        return {"page_size": 50}

    @pytest.fixture
    def schema(self, source: SourceClient, table: str) -> TableSchema:
        return source.describe(table)

    @pytest.fixture
    def throttle(self) -> Callable[[], None]:
        pytest.fail("a source that declares throttling provides a throttle fixture")

    # ---------------------------------------------------------------------------------------- explore
    def test_check_accepts_good_credentials(self, source: SourceClient) -> None:
        source.check()

    def test_wrong_credentials_fail_with_source_auth_error(self, bad_credentials_source: SourceClient) -> None:
        with pytest.raises(SourceAuthError):
            bad_credentials_source.check()

    def test_lists_tables_including_the_test_table(self, source: SourceClient, table: str) -> None:
        tables = {t.name: t for t in source.list_tables()}
        assert table in tables
        info = tables[table]
        assert info.primary_key and info.entity_set and info.display_name

    def test_the_table_is_listed_with_the_declared_capabilities(self, source: SourceClient, table: str) -> None:
        info = next(t for t in source.list_tables() if t.name == table)
        assert info.change_tracking == self.capabilities.change_tracking
        assert info.can_preview == self.capabilities.preview

    def test_describes_typed_columns_with_the_primary_key_first(self, schema: TableSchema) -> None:
        assert schema.columns, "a table without columns"
        first = schema.columns[0]
        assert first.is_primary_key and not first.nullable and first.name == schema.table.primary_key
        for column in schema.columns:
            assert isinstance(column.arrow_type, pa.DataType)
            assert column.original_type and column.xdm.get("type")
        assert len({c.name for c in schema.columns}) == len(schema.columns)

    def test_unknown_table_is_not_found(self, source: SourceClient) -> None:
        with pytest.raises(NotFound):
            source.describe("no_such_table_anywhere")
        with pytest.raises(NotFound):
            list(source.read("no_such_table_anywhere", None, None))

    @needs("preview")
    def test_preview_is_typed_by_the_described_schema(
        self, source: SourceClient, table: str, schema: TableSchema
    ) -> None:
        preview = source.preview(table, None, 3)
        assert preview.num_rows == 3
        assert preview.schema == schema.arrow_schema()

    @needs("preview")
    def test_preview_of_selected_columns_keeps_the_primary_key(
        self, source: SourceClient, table: str, schema: TableSchema
    ) -> None:
        other = next(c.name for c in schema.columns if not c.is_primary_key)
        preview = source.preview(table, [other], 2)
        assert preview.schema.names == [schema.table.primary_key, other]

    def test_unknown_column_is_an_invalid_request(self, source: SourceClient, table: str) -> None:
        with pytest.raises(InvalidRequest):
            list(source.read(table, ["no_such_column"], None))

    # -------------------------------------------------------------------------------------------- read
    def test_reads_the_full_table_page_by_page_with_a_cursor_after_each(
        self, source: SourceClient, table: str, schema: TableSchema, read_kwargs: dict[str, Any]
    ) -> None:
        pages = list(source.read(table, None, None, **read_kwargs))
        assert pages and pages[-1].final and not any(p.final for p in pages[:-1])
        assert all(p.cursor and p.bytes_read > 0 for p in pages)
        assert all(p.batch.schema == schema.arrow_schema() for p in pages)
        pk = schema.table.primary_key
        assert pk is not None
        ids = keys(pages, pk)
        assert len(ids) >= self.min_rows and len(ids) == len(set(ids))
        assert not any(p.full_resync for p in pages)

    def test_resumes_from_a_mid_read_cursor_without_losing_rows(
        self, source: SourceClient, table: str, schema: TableSchema, read_kwargs: dict[str, Any]
    ) -> None:
        pk = schema.table.primary_key
        assert pk is not None
        everything = set(keys(list(source.read(table, [pk], None, **read_kwargs)), pk))
        iterator = source.read(table, [pk], None, **read_kwargs)
        first = next(iterator)
        assert not first.final, "the test table must span more than one page"
        rest = list(source.read(table, [pk], first.cursor, **read_kwargs))
        assert set(keys([first], pk)) | set(keys(rest, pk)) == everything

    def test_reads_only_changes_after_the_final_cursor(
        self, source: SourceClient, table: str, schema: TableSchema, change: Change, read_kwargs: dict[str, Any]
    ) -> None:
        pk = schema.table.primary_key
        assert pk is not None
        final = list(source.read(table, [pk], None, **read_kwargs))[-1]
        upserted, deleted = change()
        pages = list(source.read(table, [pk], final.cursor, **read_kwargs))
        seen = set(keys(pages, pk))
        assert upserted <= seen
        assert not (seen & deleted)
        if self.capabilities.deletes:
            assert deleted <= {k for p in pages for k in p.deleted_keys}
        assert pages[-1].final and pages[-1].cursor != final.cursor
        again = list(source.read(table, [pk], pages[-1].cursor, **read_kwargs))
        if self.capabilities.change_tracking:
            assert sum(p.batch.num_rows for p in again) == 0 and not any(p.deleted_keys for p in again)
        else:  # the inclusive bound may read rows at the watermark again, never a row the last read did not see
            assert set(keys(again, pk)) <= seen and not any(p.deleted_keys for p in again)

    @needs("throttling")
    def test_throttling_is_absorbed(
        self,
        source: SourceClient,
        table: str,
        schema: TableSchema,
        throttle: Callable[[], None],
        read_kwargs: dict[str, Any],
    ) -> None:
        pk = schema.table.primary_key
        assert pk is not None
        expected = set(keys(list(source.read(table, [pk], None, **read_kwargs)), pk))
        throttle()
        assert set(keys(list(source.read(table, [pk], None, **read_kwargs)), pk)) == expected
