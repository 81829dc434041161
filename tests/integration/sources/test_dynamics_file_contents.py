"""``downloadFiles`` at the source (``sources/dynamics/file_contents.py``) against the HTTPS emulator: each page
carries an attachment per file of its rows, whose download (in ``Range`` chunks) is the file byte for byte;
files over the per-file limit or beyond the run's total are skipped with the reason, and a file deleted since the
page was read is reported gone instead of failing the read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest

from flowservice.ports import Attachment, Page
from flowservice.sources.dynamics import DynamicsSource, clear_caches

from .dynamics_helpers import settings_for, write_client

FILE = "cr6f1_contractfile"


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def source(emulator: Any, **settings: Any) -> DynamicsSource:
    params = {
        "serviceUri": emulator.org_url,
        "username": emulator.username,
        "password": emulator.password,
        "_sourceOptions": {"downloadFiles": True},
    }
    return DynamicsSource(params, auth_kind="basic", settings=settings_for(emulator, **settings))


def read(emulator: Any, **settings: Any) -> tuple[list[Page], DynamicsSource]:
    opened = source(emulator, **settings)
    return list(opened.read("account", None, None, page_size=40)), opened


def contents(file: Attachment) -> bytes | str:
    opened = file.open()
    return opened if isinstance(opened, str) else b"".join(opened)


def download(emulator: Any, row_id: str) -> bytes:
    with emulator.client() as client:
        answer = client.get(f"accounts({row_id})/{FILE}/$value")
        answer.raise_for_status()
        return answer.content


def test_each_page_attaches_its_files_and_a_chunked_download_is_the_file_byte_for_byte(start_emulator) -> None:
    emulator = start_emulator(scale=120, seed=7)
    pages, opened = read(emulator, file_chunk_bytes=10_000)
    with closing(opened):
        rows = {r["accountid"]: r for p in pages for r in p.batch.to_pylist()}
        with_files = {r[FILE]: r for r in rows.values() if r[FILE]}
        attached = {a.key: a for p in pages for a in p.attachments if a.column == FILE}  # not the images
        assert set(attached) == set(with_files) and with_files
        for key, file in list(attached.items())[:8]:
            assert file.column == FILE and file.skipped is None
            assert file.size == with_files[key][f"{FILE}_filesize"] > 10_000  # more than one chunk
            assert contents(file) == download(emulator, with_files[key]["accountid"])


def test_a_file_over_the_per_file_limit_is_skipped_before_any_download(start_emulator) -> None:
    emulator = start_emulator(scale=120, seed=7)
    pages, opened = read(emulator, max_file_bytes=50_000)
    with closing(opened):
        files = [a for p in pages for a in p.attachments]
        big = [a for a in files if a.size is not None and a.size > 50_000]
        assert big and len(big) < len(files)
        assert all(a.skipped == f"{a.size} bytes, over the limit of 50000 per file" for a in big)
        assert all(a.skipped is None for a in files if a not in big)


def test_downloads_stop_at_the_runs_total_and_say_so(start_emulator) -> None:
    emulator = start_emulator(scale=120, seed=7)
    pages, opened = read(emulator, max_run_file_bytes=300_000)
    with closing(opened):
        results = [contents(a) for p in pages for a in p.attachments]
        downloaded = [r for r in results if isinstance(r, bytes)]
        refused = [r for r in results if isinstance(r, str)]
        assert downloaded and refused
        assert sum(len(r) for r in downloaded) <= 300_000
        assert set(refused) == {"over the run's download total of 300000 bytes"}


def test_a_file_whose_record_was_deleted_after_the_page_is_reported_gone(start_emulator) -> None:
    emulator = start_emulator(scale=120, seed=7)
    pages, opened = read(emulator)
    with closing(opened):
        page = next(p for p in pages if p.attachments)
        file = page.attachments[0]
        row = next(r for r in page.batch.to_pylist() if r[FILE] == file.key)
        with write_client(emulator) as client:
            client.delete(f"accounts({row['accountid']})").raise_for_status()
        assert contents(file) == "gone from the source before its download"
