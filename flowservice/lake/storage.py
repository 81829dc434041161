"""Where the lake lives: a local folder or an S3-compatible bucket, and the options delta-rs needs for it.

Table paths come from dataset ids and org/sandbox names, so they are checked here, once: relative,
no ``..``, no empty segment. A path that could escape the root would let one tenant reach another's data.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

from flowservice.domain.errors import InvalidRequest

# Delta log JSON files are the only place a commit's metadata (our cursor) lives; checkpoints keep the
# application transaction versions but not commitInfo. Keep the log far longer than the 30-day default so a
# flow paused for months still finds its cursor. A checkpoint every 20 commits (the default is 100): a run
# commits every few thousand rows and opened the table each time, and replaying up to 100 JSON commits made
# that open grow to ~55 ms (measured); from a checkpoint it stays under ~12 ms. (A run's commits now refresh
# the table they keep open, ``open_tables.py``; readers and a run's first commit still open it.)
TABLE_CONFIGURATION: dict[str, str | None] = {
    "delta.logRetentionDuration": "interval 3650 days",
    "delta.checkpointInterval": "20",
}


def s3_options(
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
) -> dict[str, str]:
    """Storage options for AWS S3, MinIO, R2 and other S3-compatible stores.

    ``aws_conditional_put=etag`` makes delta-rs commit with ``If-None-Match`` puts, so two writers can never
    both write the same log version — without it S3 needs a DynamoDB lock table.
    """
    options = {"aws_conditional_put": "etag"}
    if access_key_id:
        options["AWS_ACCESS_KEY_ID"] = access_key_id
    if secret_access_key:
        options["AWS_SECRET_ACCESS_KEY"] = secret_access_key
    if region:
        options["AWS_REGION"] = region
    if endpoint_url:
        options["AWS_ENDPOINT_URL"] = endpoint_url
    if allow_http:
        options["AWS_ALLOW_HTTP"] = "true"
    return options


class Storage:
    """Turns a table path relative to the lake root into the URI delta-rs, pyarrow and DuckDB read."""

    def __init__(self, root: str, options: dict[str, str] | None = None) -> None:
        parsed = urlparse(root)
        self.is_local = parsed.scheme in ("", "file") or len(parsed.scheme) == 1  # a drive letter: C:\lake
        if self.is_local:
            local = parsed.path if parsed.scheme == "file" else root
            self.root = str(Path(local).expanduser().resolve())
        else:
            self.root = root.rstrip("/")
        self.options: dict[str, str] = dict(options or {})

    def uri(self, table_path: str) -> str:
        parts = _segments(table_path)
        if self.is_local:
            return str(Path(self.root, *parts))
        return "/".join([self.root, *parts])

    def remove(self, table_path: str) -> None:
        """Delete every file of the table. The log goes first, so an interrupted drop leaves no table that
        still claims its transactions; dropping again finishes the job (drop is idempotent)."""
        uri = self.uri(table_path)
        if self.is_local:
            shutil.rmtree(Path(uri, "_delta_log"), ignore_errors=True)
            shutil.rmtree(uri, ignore_errors=True)
            return
        from deltalake.fs import DeltaStorageHandler  # delta-rs's object-store client, same options

        handler = DeltaStorageHandler(uri, self.options)
        handler.delete_dir("_delta_log")  # deletes every object under the prefix; none is fine
        handler.delete_dir("")


def _segments(table_path: str) -> list[str]:
    parts = table_path.strip("/").split("/")
    if not table_path.strip("/") or any(p in ("", ".", "..") or "\\" in p or ":" in p for p in parts):
        raise InvalidRequest(f"Invalid lake table path {table_path!r}: expected a relative path like a/b/c.")
    return parts


def root_problem(root: str, options: dict[str, str] | None = None) -> str | None:
    """None when the lake's root can be reached (a local folder that exists or can be made, and is writable;
    an object store that answers a listing of the root), else why not: ``/ready``'s lake check."""
    storage = Storage(root, options)
    if storage.is_local:
        folder = Path(storage.root)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"cannot create the folder {folder}: {exc.strerror}"
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            return f"the folder {folder} is not a writable directory"
        return None
    from deltalake.fs import DeltaStorageHandler
    from pyarrow.fs import FileSelector

    try:
        # bounded: a readiness probe must answer in seconds, not after the writers' retry budget
        probe = {"timeout": "5s", "connect_timeout": "3s", "max_retries": "1", "retry_timeout": "5s"}
        handler = DeltaStorageHandler(storage.root, {**storage.options, **probe})
        handler.get_file_info_selector(FileSelector("", allow_not_found=True, recursive=False))
    except OSError as exc:  # delta-rs's object-store error: a chain of causes, one per line, coloured
        causes = [re.sub(r"\x1b\[[0-9;]*m|↳", "", part).strip() for part in str(exc).splitlines()]
        return f"listing {storage.root} failed: " + "; ".join(c for c in causes if c)[:400]
    return None
