"""The engine's side of file contents (``services/runs/attachments.py``): what it downloads, what it keeps,
what it skips and how the run says so. The lake here is a dictionary: the lake's own tests cover storage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any, cast

import pyarrow as pa

from flowservice.domain.tenancy import Tenant
from flowservice.ports import Attachment, Claim, Lake, Page
from flowservice.services.runs.attachments import NAMED, NOTE_CODE, FileLanding
from flowservice.services.runs.context import RunContext


class DictLake:
    def __init__(self) -> None:
        self.files: dict[tuple[str, str, str], bytes] = {}

    def file_size(self, table_path: str, column: str, key: str) -> int | None:
        found = self.files.get((table_path, column, key))
        return len(found) if found is not None else None

    def put_file(self, table_path: str, column: str, key: str, chunks: Iterable[bytes], size: int | None) -> int:
        data = b"".join(chunks)
        self.files[(table_path, column, key)] = data
        return len(data)


def context() -> RunContext:
    plan = cast(Any, SimpleNamespace(table_path="org/prod/ds"))
    return RunContext(Tenant("org", "prod"), "run-1", plan, "batch", 0, cast(Claim, None))


def attachment(key: str, data: bytes | str, size: int | None = None, skipped: str | None = None) -> Attachment:
    opened: list[str] = []

    def open_() -> Iterator[bytes] | str:
        opened.append(key)
        return data if isinstance(data, str) else iter([data[:3], data[3:]])

    return Attachment("doc", key, size if size is not None else len(data), open_, skipped)


def page(*files: Attachment) -> Page:
    return Page(batch=pa.record_batch({"id": ["a"]}), attachments=files)


def landing() -> tuple[FileLanding, DictLake, RunContext]:
    lake, ctx = DictLake(), context()
    return FileLanding(cast(Lake, lake), ctx), lake, ctx


def test_each_attachment_is_stored_under_its_column_and_key_and_counted() -> None:
    files, lake, ctx = landing()
    files.store(page(attachment("k1", b"hello"), attachment("k2", b"world!")))
    assert lake.files == {("org/prod/ds", "doc", "k1"): b"hello", ("org/prod/ds", "doc", "k2"): b"world!"}
    assert (ctx.counters.files_written, ctx.counters.file_bytes, ctx.counters.files_kept) == (2, 11, 0)
    assert ctx.notes == []


def test_a_file_already_stored_with_its_size_is_not_downloaded_again() -> None:
    files, lake, ctx = landing()
    lake.files[("org/prod/ds", "doc", "k1")] = b"hello"
    never = Attachment("doc", "k1", 5, lambda: (_ for _ in ()).throw(AssertionError("downloaded again")))
    files.store(page(never))
    assert (ctx.counters.files_written, ctx.counters.files_kept) == (0, 1)


def test_a_stored_file_of_another_size_is_downloaded_again() -> None:
    files, lake, ctx = landing()
    lake.files[("org/prod/ds", "doc", "k1")] = b"hel"  # left by a store that does not write atomically
    files.store(page(attachment("k1", b"hello")))
    assert lake.files[("org/prod/ds", "doc", "k1")] == b"hello"
    assert ctx.counters.files_written == 1


def test_skipped_and_gone_files_are_not_stored_and_one_activity_names_them() -> None:
    files, lake, ctx = landing()
    files.store(page(attachment("big", b"x" * 10, skipped="10 bytes, over the limit of 5 per file")))
    files.store(page(attachment("gone", "gone from the source before its download")))
    assert lake.files == {}
    assert ctx.counters.files_skipped == 2
    assert len(ctx.notes) == 1 and ctx.notes[0]["code"] == NOTE_CODE
    message = ctx.notes[0]["message"]
    assert message.startswith("2 file(s) were not downloaded")
    assert "doc/big (10 bytes, over the limit of 5 per file)" in message
    assert "doc/gone (gone from the source before its download)" in message


def test_the_activity_names_a_bounded_number_of_files_and_counts_them_all() -> None:
    files, _, ctx = landing()
    files.store(page(*(attachment(f"k{i}", b"x", skipped="over") for i in range(NAMED + 5))))
    message = ctx.notes[0]["message"]
    assert message.startswith(f"{NAMED + 5} file(s)")
    assert message.count("(over)") == NAMED and message.endswith(", ….")
