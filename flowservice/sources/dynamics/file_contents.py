"""File contents for a source connection with ``downloadFiles``: each page's files as ``Page.attachments``.

A file is downloaded from ``GET <entity set>(<id>)/<column>/$value`` in ``Range`` chunks of at most 4 MB (the
``x-ms-chunk-size`` Dataverse recommends; "Download files", Microsoft), each chunk one call within the call
deadline and the usual retries. The file id is the key: Dataverse gives a replaced file a new id, so one id's
bytes never change and the engine skips a file the lake already holds.

Bounds, per file and per run: a file whose ``fileattachment`` size is over ``max_file_bytes`` is skipped before
any request (the run's activity names it), and so is one that announces or sends more than that once its download
starts (the size is checked on every chunk's ``Content-Range``). Downloads stop at ``max_run_file_bytes`` per
run attempt: later files are skipped and named the same way (files already stored do not count). A file
whose record or file is gone when its download starts (404) is skipped: its row will say so on a later run.

Image columns (``ImageType``) download the same way, full size (``$value?size=full``; "Use image column data",
Microsoft), to ``_files/<image column>/<record id>-<image timestamp>``. An image has no ``fileattachment`` row
(so no size before its download: the limits apply to the size it announces) and Dataverse does not document
that ``<column>id`` changes when an image is replaced, whereas ``<column>_timestamp`` is the image's version: a
replaced image gets a new key, an unchanged one keeps its key and is never downloaded again. A row without a
timestamp has no image. Image columns are downloaded only when their ``_timestamp`` helper is read.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence

from flowservice.domain.errors import NotFound, SourceRefused
from flowservice.ports import Attachment, Page

from .http import DataverseHttp

CHUNK_BYTES = 4 * 2**20
IMAGE_TIMESTAMP = "_timestamp"  # an image column's helper: its version (see the module doc)
IMAGE_QUERY = {"size": "full"}  # without it, ``$value`` serves the thumbnail
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)$")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Downloads:
    """The attachments of a read's pages, and the run's download budget."""

    def __init__(
        self,
        http: DataverseHttp,
        entity_set: str,
        primary_key: str,
        columns: Sequence[str],
        *,
        max_file_bytes: int,
        max_run_bytes: int,
        chunk_bytes: int = CHUNK_BYTES,
        images: Sequence[str] = (),
    ) -> None:
        self.http = http
        self.entity_set = entity_set
        self.primary_key = primary_key
        self.columns = list(columns)
        self.max_file_bytes = max_file_bytes
        self.budget = max_run_bytes
        self.max_run_bytes = max_run_bytes
        self.chunk_bytes = chunk_bytes
        self.images = list(images)

    @classmethod
    def of(
        cls,
        http: DataverseHttp,
        entity_set: str,
        primary_key: str,
        columns: Sequence[str],
        images: Sequence[str] = (),
    ) -> Downloads:
        """Downloads bounded by the connection's settings (``FLOWSERVICE_DYNAMICS_MAX_FILE_BYTES`` and others)."""
        settings = http.settings
        return cls(
            http,
            entity_set,
            primary_key,
            columns,
            max_file_bytes=settings.max_file_bytes,
            max_run_bytes=settings.max_run_file_bytes,
            chunk_bytes=settings.file_chunk_bytes,
            images=images,
        )

    def attach(self, page: Page, sizes: dict[str, int | None]) -> Page:
        """``page`` with an attachment per file of its rows; ``sizes``: file id → size from ``fileattachment``."""
        batch = page.batch
        if not batch.num_rows or self.primary_key not in batch.schema.names:
            return page
        keys = batch.column(self.primary_key).to_pylist()
        found: list[Attachment] = []
        for column in self.columns:
            if column not in batch.schema.names:
                continue
            for row, file_id in zip(keys, batch.column(column).to_pylist(), strict=True):
                if row and file_id:
                    row_key, key = _guid(row, "record id"), _guid(file_id, "file id")
                    found.append(self._attachment(column, row_key, key, sizes.get(key)))
        for column in self.images:
            stamps = f"{column}{IMAGE_TIMESTAMP}"
            if stamps not in batch.schema.names:
                continue
            for row, stamp in zip(keys, batch.column(stamps).to_pylist(), strict=True):
                if row and stamp is not None:
                    row_key = _guid(row, "record id")
                    found.append(self._attachment(column, row_key, f"{row_key}-{_stamp(stamp)}", None, IMAGE_QUERY))
        return dataclasses.replace(page, attachments=page.attachments + tuple(found)) if found else page

    def _attachment(
        self, column: str, row: str, file_id: str, size: int | None, query: dict[str, str] | None = None
    ) -> Attachment:
        skipped = None
        if size is not None and size > self.max_file_bytes:
            skipped = f"{size} bytes, over the limit of {self.max_file_bytes} per file"
        url = self.http.url(f"{self.entity_set}({row})/{column}/$value", query)
        return Attachment(column, file_id, size, lambda: self._open(url, size), skipped)

    def _open(self, url: str, size: int | None) -> Iterator[bytes] | str:
        """The first chunk is fetched here, so that a file gone (404) is known before anything is written."""
        if size is not None and size > self.budget:
            return f"over the run's download total of {self.max_run_bytes} bytes"
        try:
            first, total = self._chunk(url, 0)
        except NotFound:
            return "gone from the source before its download"
        if total > self.max_file_bytes:
            return f"{total} bytes, over the limit of {self.max_file_bytes} per file"
        if total > self.budget:
            return f"over the run's download total of {self.max_run_bytes} bytes"
        if size is not None and total != size:
            raise SourceRefused(f"Dataverse announced a file of {size} bytes and serves {total} bytes")
        self.budget -= total
        return self._rest(url, first, total)

    def _rest(self, url: str, first: bytes, total: int) -> Iterator[bytes]:
        yield first
        offset = len(first)
        while offset < total:
            chunk, again = self._chunk(url, offset)
            if again != total:
                raise SourceRefused(f"Dataverse's file changed size during its download ({total} → {again} bytes)")
            yield chunk
            offset += len(chunk)

    def _chunk(self, url: str, start: int) -> tuple[bytes, int]:
        """Bytes from ``start`` (one chunk) and the file's total size."""
        end = start + self.chunk_bytes - 1
        response = self.http.get(url, headers={"Range": f"bytes={start}-{end}"}, limit=self.chunk_bytes)
        body = response.content
        if response.status_code == 200:  # the whole file (a server that ignores Range): within one chunk
            if start:
                raise SourceRefused("Dataverse answered a file chunk with the whole file")
            return body, len(body)
        match = _CONTENT_RANGE.match(response.headers.get("content-range", "").strip())
        if match is None or int(match.group(1)) != start or not body:
            raise SourceRefused(f"Dataverse answered a file chunk without a valid Content-Range at byte {start}")
        if int(match.group(2)) - start + 1 != len(body):
            raise SourceRefused(f"Dataverse's file chunk at byte {start} does not match its Content-Range")
        return body, int(match.group(3))


def _guid(value: object, what: str) -> str:
    """``value`` as a lower-case GUID: it becomes part of a download URL and of an object's name in the lake."""
    text = str(value).lower()
    if not _GUID.match(text):
        raise SourceRefused(f"Dataverse sent a {what} of a file column that is not a GUID: {text[:60]!r}")
    return text


def _stamp(value: object) -> int:
    """An image timestamp as a non-negative integer: it becomes part of an object's name in the lake."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SourceRefused(f"Dataverse sent an image timestamp that is not a non-negative integer: {value!r}")
    return value
