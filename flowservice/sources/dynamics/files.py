"""File columns: their metadata as columns of the table, their contents never in it.

A file column's value is the file's id, its ``<column>_name`` helper the file name (both Web API properties).
Size and MIME type are not properties of the record: Dataverse keeps them in the file's ``fileattachment`` row
(``fileattachmentid`` = the file id; "Use file column data", Microsoft). Each page that holds files costs one
more request per 600 of them (``fileattachments`` filtered with ``Microsoft.Dynamics.CRM.In`` on the key) and
fills two companion columns, ``<column>_filesize`` (bytes, int64) and ``<column>_mimetype``. Companions are
not selected (they are no Web API properties) and decode as nulls until filled. A file that has no
``fileattachment`` row (deleted between the two reads) keeps null companions: the next run reads it again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import pyarrow as pa

from flowservice.ports import Column, Page

from .file_contents import Downloads
from .http import DataverseHttp

SIZE_SUFFIX = "_filesize"
MIME_SUFFIX = "_mimetype"
FILE_TYPE = "FileType"
IDS_PER_REQUEST = 600  # ~24,000 characters of ids: the URL stays a plain GET
_ATTACHMENT_SELECT = "fileattachmentid,filesizeinbytes,mimetype"


def companions(name: str) -> list[Column]:
    """The two columns a file column ``name`` adds beside its id (and its ``_name`` helper)."""
    return [
        Column(
            name=f"{name}{SIZE_SUFFIX}",
            arrow_type=pa.int64(),
            original_type=FILE_TYPE,
            xdm={"type": "integer", "minimum": 0},
            description=f"Size in bytes of the file in {name} (its fileattachment row).",
        ),
        Column(
            name=f"{name}{MIME_SUFFIX}",
            arrow_type=pa.string(),
            original_type=FILE_TYPE,
            xdm={"type": "string"},
            description=f"MIME type of the file in {name} (its fileattachment row).",
        ),
    ]


def is_file_companion(column: Column) -> bool:
    return column.original_type == FILE_TYPE and column.name.endswith((SIZE_SUFFIX, MIME_SUFFIX))


def file_columns(columns: Sequence[Column]) -> list[str]:
    """File columns (ids) whose companions are among ``columns``."""
    names = {c.name for c in columns}
    return [
        c.name
        for c in columns
        if c.original_type == FILE_TYPE
        and not is_file_companion(c)
        and (f"{c.name}{SIZE_SUFFIX}" in names or f"{c.name}{MIME_SUFFIX}" in names)
    ]


def stored_file_columns(columns: Sequence[Column]) -> list[str]:
    """File columns (ids) among ``columns``: those whose contents ``downloadFiles`` stores in the lake."""
    return [c.name for c in columns if c.original_type == FILE_TYPE and not is_file_companion(c)]


class FileInfo:
    """Fills the companions of a read's pages from ``fileattachments``; with ``downloads`` (a source connection
    with ``downloadFiles``), also attaches the pages' files for the engine to store (``file_contents.py``)."""

    def __init__(self, http: DataverseHttp, files: list[str], downloads: Downloads | None = None) -> None:
        self.http = http
        self.files = files
        self.downloads = downloads

    def pages(self, pages: Iterator[Page]) -> Iterator[Page]:
        for page in pages:
            if not page.batch.num_rows:
                yield page
                continue
            found = self._found(page.batch)
            page = dataclasses.replace(page, batch=self._filled(page.batch, found))
            if self.downloads is not None:
                page = self.downloads.attach(page, {k: v[0] for k, v in found.items()})
            yield page

    def fill(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self.files or not batch.num_rows:
            return batch
        return self._filled(batch, self._found(batch))

    def _found(self, batch: pa.RecordBatch) -> dict[str, tuple[int | None, str | None]]:
        ids = sorted({v for f in self.files if f in batch.schema.names for v in batch.column(f).to_pylist() if v})
        return self._attachments(ids)

    def _filled(self, batch: pa.RecordBatch, found: dict[str, tuple[int | None, str | None]]) -> pa.RecordBatch:
        arrays, names = list(batch.columns), batch.schema.names
        for name in self.files:
            if name not in names:
                continue
            keys = batch.column(name).to_pylist()
            for suffix, k, arrow in ((SIZE_SUFFIX, 0, pa.int64()), (MIME_SUFFIX, 1, pa.string())):
                if f"{name}{suffix}" in names:
                    values = [found[key][k] if key in found else None for key in keys]
                    arrays[names.index(f"{name}{suffix}")] = pa.array(values, type=arrow)
        return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)

    def _attachments(self, ids: list[str]) -> dict[str, tuple[int | None, str | None]]:
        out: dict[str, tuple[int | None, str | None]] = {}
        for start in range(0, len(ids), IDS_PER_REQUEST):
            chunk = ids[start : start + IDS_PER_REQUEST]
            values = ",".join(f"'{i}'" for i in chunk)
            condition = f"Microsoft.Dynamics.CRM.In(PropertyName='fileattachmentid',PropertyValues=[{values}])"
            url = self.http.url("fileattachments", {"$select": _ATTACHMENT_SELECT, "$filter": condition})
            doc, _ = self.http.get_json(url, limit=self.http.settings.max_page_bytes)
            for row in doc.get("value") or ():
                size = row.get("filesizeinbytes")
                mime = row.get("mimetype")
                key = str(row.get("fileattachmentid") or "").lower()
                out[key] = (int(size) if size is not None else None, str(mime) if mime is not None else None)
        return out
