"""The files of a page's rows (``Page.attachments``), stored beside the dataset before the page lands.

Exactly once like rows: a page's files are written before the commit that lands its rows, each to the object
its key names (``Lake.put_file``), so a crash before the commit re-reads the page and rewrites the same objects
at most, and a crash after it leaves files that the rows point at. A file already stored with its announced
size is not downloaded again (a key's contents never change), which is why a second run, a retry or a resumed
run costs no download for files it has. Skipped files (over a limit, or gone from the source before their
download) are counted and named in one run activity; their rows land all the same, with their metadata.
"""

from __future__ import annotations

from flowservice.ports import Attachment, Lake, Page
from flowservice.services.runs.context import RunContext

NOTE_CODE = "CONNECTOR-3006-200"
NAMED = 10  # skipped files named in the run's activity; the count covers them all


class FileLanding:
    """Stores each page's attachments for one run, and keeps the run's activity about the ones skipped."""

    def __init__(self, lake: Lake, ctx: RunContext) -> None:
        self.lake = lake
        self.ctx = ctx
        self.skipped: list[str] = []
        self.note: dict[str, str] | None = None

    def store(self, page: Page) -> None:
        for attachment in page.attachments:
            self._store(attachment)

    def _store(self, file: Attachment) -> None:
        counters, path = self.ctx.counters, self.ctx.plan.table_path
        if file.skipped is not None:
            self._skip(file, file.skipped)
            return
        stored = self.lake.file_size(path, file.column, file.key)
        if stored is not None and (file.size is None or stored == file.size):
            counters.files_kept += 1
            return
        chunks = file.open()
        if isinstance(chunks, str):
            self._skip(file, chunks)
            return
        counters.file_bytes += self.lake.put_file(path, file.column, file.key, chunks, file.size)
        counters.files_written += 1

    def _skip(self, file: Attachment, why: str) -> None:
        self.ctx.counters.files_skipped += 1
        if len(self.skipped) < NAMED:
            self.skipped.append(f"{file.column}/{file.key} ({why})")
        message = (
            f"{self.ctx.counters.files_skipped} file(s) were not downloaded into the lake; their rows landed with "
            f"the file's metadata only: {', '.join(self.skipped)}"
            + (", …" if self.ctx.counters.files_skipped > len(self.skipped) else "")
            + "."
        )
        if self.note is None:
            self.note = {"code": NOTE_CODE, "message": message}
            self.ctx.notes.append(self.note)
        else:
            self.note["message"] = message
