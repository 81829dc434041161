"""The checks of ``file_contents.Downloads`` on what a Dataverse server sends (logic only; the emulator's tests
download real files): ids that are not GUIDs are refused, and so are chunks that do not match their range."""

from __future__ import annotations

from typing import Any, cast

import httpx
import pyarrow as pa
import pytest

from flowservice.domain.errors import SourceRefused
from flowservice.ports import Page
from flowservice.sources.dynamics.file_contents import Downloads
from flowservice.sources.dynamics.http import DataverseHttp

ROW = "0b3c1d2e-0000-4000-8000-000000000001"
FILE = "6c1d2a8e-0000-4000-8000-000000000002"


class Chunks:
    """A stand-in for ``DataverseHttp`` serving one file in ranges, with ``tamper`` to bend an answer."""

    def __init__(self, data: bytes, tamper: Any = None) -> None:
        self.data, self.tamper = data, tamper
        self.ranges: list[tuple[int, int]] = []
        self.urls: list[str] = []

    def url(self, path: str, params: dict[str, str] | None = None) -> str:
        query = "".join(f"?{k}={v}" for k, v in (params or {}).items())
        return f"https://org.example/api/data/v9.2/{path}{query}"

    def get(self, url: str, *, headers: dict[str, str], limit: int) -> httpx.Response:
        self.urls.append(url)
        start, end = (int(x) for x in headers["Range"].removeprefix("bytes=").split("-"))
        self.ranges.append((start, end))
        end = min(end, len(self.data) - 1)
        content_range = f"bytes {start}-{end}/{len(self.data)}"
        body = self.data[start : end + 1]
        if self.tamper is not None:
            body, content_range = self.tamper(start, body, content_range)
        return httpx.Response(206, headers={"Content-Range": content_range}, content=body)


def downloads(http: Chunks, **limits: int) -> Downloads:
    values: dict[str, Any] = {"max_file_bytes": 10_000, "max_run_bytes": 100_000, "chunk_bytes": 4, **limits}
    return Downloads(cast(DataverseHttp, http), "accounts", "accountid", ["doc"], **values)


def page(row: str, file_id: str) -> Page:
    return Page(batch=pa.record_batch({"accountid": [row], "doc": [file_id]}))


def test_a_file_is_read_in_ranges_of_the_chunk_size_and_joined() -> None:
    http = Chunks(b"0123456789")
    [file] = downloads(http).attach(page(ROW, FILE.upper()), {FILE: 10}).attachments
    assert file.key == FILE and file.size == 10
    opened = file.open()
    assert not isinstance(opened, str) and b"".join(opened) == b"0123456789"
    assert http.ranges == [(0, 3), (4, 7), (8, 11)]


@pytest.mark.parametrize(("row", "file_id"), [(ROW, "../../etc"), ("x)/other(1", FILE), (ROW, FILE + "0")])
def test_a_record_or_file_id_that_is_not_a_guid_is_refused(row: str, file_id: str) -> None:
    with pytest.raises(SourceRefused, match="not a GUID"):
        downloads(Chunks(b"x")).attach(page(row, file_id), {})


def test_a_file_announced_with_another_size_than_it_is_served_fails_loudly() -> None:
    [file] = downloads(Chunks(b"0123456789")).attach(page(ROW, FILE), {FILE: 12}).attachments
    with pytest.raises(SourceRefused, match="announced a file of 12 bytes and serves 10"):
        file.open()


def test_a_chunk_that_does_not_match_its_content_range_fails_the_download() -> None:
    def short(start: int, body: bytes, content_range: str) -> tuple[bytes, str]:
        return (body[:-1] if start == 4 else body), content_range

    [file] = downloads(Chunks(b"0123456789", short)).attach(page(ROW, FILE), {FILE: 10}).attachments
    opened = file.open()
    assert not isinstance(opened, str)
    with pytest.raises(SourceRefused, match="does not match its Content-Range"):
        b"".join(opened)


def test_a_file_that_grows_during_its_download_fails_it() -> None:
    def grown(start: int, body: bytes, content_range: str) -> tuple[bytes, str]:
        return body, (content_range.replace("/10", "/11") if start else content_range)

    [file] = downloads(Chunks(b"0123456789", grown)).attach(page(ROW, FILE), {FILE: 10}).attachments
    opened = file.open()
    assert not isinstance(opened, str)
    with pytest.raises(SourceRefused, match="changed size during its download"):
        b"".join(opened)


def test_a_file_whose_size_is_unknown_is_skipped_when_its_download_announces_too_many_bytes() -> None:
    [file] = downloads(Chunks(b"0123456789"), max_file_bytes=8).attach(page(ROW, FILE), {}).attachments
    assert file.skipped is None and file.size is None
    assert file.open() == "10 bytes, over the limit of 8 per file"


def image_page(row: str, stamps: list[int | None]) -> Page:
    return Page(batch=pa.record_batch({"accountid": [row] * len(stamps), "entityimage_timestamp": stamps}))


def image_downloads(http: Chunks) -> Downloads:
    return Downloads(
        cast(DataverseHttp, http),
        "accounts",
        "accountid",
        [],
        max_file_bytes=10_000,
        max_run_bytes=100_000,
        chunk_bytes=4,
        images=["entityimage"],
    )


def test_an_image_is_keyed_by_its_record_and_timestamp_so_a_replaced_image_gets_a_new_object() -> None:
    http = Chunks(b"\x89PNG-image")
    old, new = (
        image_downloads(http).attach(image_page(ROW.upper(), [638000000000000000, 638000000010000000]), {}).attachments
    )
    assert (old.column, old.key, old.size) == ("entityimage", f"{ROW}-638000000000000000", None)
    assert new.key == f"{ROW}-638000000010000000"
    opened = new.open()
    assert not isinstance(opened, str) and b"".join(opened) == b"\x89PNG-image"
    assert set(http.urls) == {f"https://org.example/api/data/v9.2/accounts({ROW})/entityimage/$value?size=full"}


def test_a_row_without_an_image_timestamp_attaches_no_image() -> None:
    assert image_downloads(Chunks(b"x")).attach(image_page(ROW, [None]), {}).attachments == ()


def test_an_image_timestamp_that_is_not_a_non_negative_integer_is_refused() -> None:
    with pytest.raises(SourceRefused, match="image timestamp"):
        image_downloads(Chunks(b"x")).attach(image_page(ROW, [-1]), {})
