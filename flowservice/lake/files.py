"""Files beside a dataset: ``<table>/_files/<column>/<key>``, one object per file, written whole or not at all.

Why beside the table and under ``_files``: the table's folder is the dataset's (dropping the dataset drops its
files, a reader finds them from the table's location), and Delta treats paths starting with ``_`` as hidden, so
``optimize``'s full vacuum never deletes them (checked with delta-rs 1.6.6) and readers never list them.

Whole or not at all: on a local folder the contents go to a hidden temporary file in the same folder, renamed
over the object once complete (a crash leaves at most a ``.``-file nobody reads). On an object store the
contents are uploaded to a hidden temporary key, whose size is read back, then moved over the object (a
server-side copy): the object's key never holds part of a file. The next write of the same key replaces it.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

from flowservice.domain.errors import InvalidRequest
from flowservice.lake.storage import Storage
from flowservice.lake.store_errors import lake_unavailable

log = logging.getLogger(__name__)

FILES_FOLDER = "_files"
# a column name or a file key, as one path segment: never hidden, never a separator, never ``..``
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


class FileStore:
    """Reads sizes and writes files beside the tables of one ``Storage``."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def uri(self, table_path: str, column: str, key: str) -> str:
        for part in (column, key):
            if not _SEGMENT.match(part) or ".." in part:
                raise InvalidRequest(f"Invalid file name {part!r} for the lake: expected letters, digits, _ . -")
        return self._storage.uri(f"{table_path}/{FILES_FOLDER}/{column}/{key}")

    def size(self, table_path: str, column: str, key: str) -> int | None:
        uri = self.uri(table_path, column, key)
        if self._storage.is_local:
            try:
                return os.stat(uri).st_size
            except FileNotFoundError:
                return None
        folder, name = uri.rsplit("/", 1)
        try:
            return _size(self._handler(folder), name)
        except OSError as exc:
            raise lake_unavailable(exc) from exc

    def put(self, table_path: str, column: str, key: str, chunks: Iterable[bytes], size: int | None) -> int:
        uri = self.uri(table_path, column, key)
        if self._storage.is_local:
            return _put_local(Path(uri), chunks, size)
        return self._put_remote(uri, chunks, size)

    def _put_remote(self, uri: str, chunks: Iterable[bytes], size: int | None) -> int:
        """Upload to a hidden temporary key, check its size, then move it over the object: the object's key
        never shows part of a file, even if an abandoned upload were completed by the stream's finaliser."""
        folder, name = uri.rsplit("/", 1)
        handler = self._handler(folder)
        temporary = f".{name}.{uuid.uuid4().hex}.part"
        written = 0
        try:
            # delta-rs's own stream object: its ``write`` takes bytes (the ``PythonFile`` wrapper hands it
            # Arrow buffers, which it refuses)
            stream = handler._handler.open_output_stream(temporary, None)
            try:
                for chunk in chunks:
                    stream.write(bytes(chunk))
                    written += len(chunk)
            except BaseException:
                _abandon(handler, temporary)
                raise
            stream.close()
            stored = _size(handler, temporary)
            if stored != written or (size is not None and written != size):
                _abandon(handler, temporary)
                raise InvalidRequest(f"The file {name} came with {written} bytes instead of {size}.")
            handler.move(temporary, name)
        except OSError as exc:
            _abandon(handler, temporary)
            raise lake_unavailable(exc) from exc
        return written

    def _handler(self, uri: str):  # type: ignore[no-untyped-def]  # delta-rs's handler has no stubs
        from deltalake.fs import DeltaStorageHandler

        return DeltaStorageHandler(uri, self._storage.options)


def _size(handler, name: str) -> int | None:  # type: ignore[no-untyped-def]
    from pyarrow.fs import FileType

    info = handler.get_file_info([name])[0]
    return int(info.size) if info.type == FileType.File and info.size is not None else None


def _abandon(handler, name: str) -> None:  # type: ignore[no-untyped-def]
    try:
        handler.delete_file(name)
    except (OSError, FileNotFoundError):
        pass  # nothing was stored


def _put_local(target: Path, chunks: Iterable[bytes], size: int | None) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    written = 0
    try:
        with open(temporary, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size is not None and written != size:
            raise InvalidRequest(f"The file {target.name} came with {written} bytes instead of {size}.")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return written
