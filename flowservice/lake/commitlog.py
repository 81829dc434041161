"""What we write into, and read back from, the Delta transaction log.

Each commit carries two things besides data: an application transaction ``txn(appId, version)`` — Delta's
own idempotency marker, kept in checkpoints, so ``DeltaTable.transaction_version(app_id)`` is exact forever —
and the cursor, in the commit's ``userMetadata`` (a JSON string; Spark's ``DESCRIBE HISTORY`` shows it).
The cursor is thus stored in the same atomic commit as the data it describes: neither exists without the
other.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.fs import DeltaStorageHandler

from flowservice.domain.errors import InvalidRequest

USER_METADATA = "userMetadata"
_MARK = "flowservice"


def commit_properties(app_id: str, txn_version: int, cursor: dict[str, Any]) -> CommitProperties:
    try:
        note = json.dumps(
            {_MARK: {"appId": app_id, "txnVersion": txn_version, "cursor": cursor}},
            allow_nan=False,
            separators=(",", ":"),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"The cursor is not JSON-serialisable: {exc}") from exc
    return CommitProperties(
        app_transactions=[Transaction(app_id, txn_version)],
        custom_metadata={USER_METADATA: note},
    )


def find_commit(table: DeltaTable, app_id: str, txn_version: int) -> tuple[int, dict[str, Any]] | None:
    """(table version, cursor) of the commit that carried ``(app_id, txn_version)``, newest first.

    Reads the log backwards in growing windows, so the usual case (our commit is the newest) reads one
    small file, and a table with thousands of commits is never read whole unless the commit is not there.
    """
    limit = 8
    while True:
        history = table.history(limit)
        for info in history:
            mark = _parse(info.get(USER_METADATA))
            if mark and mark.get("appId") == app_id and mark.get("txnVersion") == txn_version:
                return int(info["version"]), dict(mark.get("cursor") or {})
        if len(history) < limit:
            return None
        limit *= 8


def log_entry(uri: str, options: dict[str, str], version: int) -> bytes:
    """The bytes of version ``version``'s entry in the table's log (``_delta_log/<version>.json``)."""
    handler = DeltaStorageHandler(uri, options)
    with handler.open_input_file(f"_delta_log/{version:020d}.json") as entry:
        return bytes(entry.read())


def added_bytes(entry: bytes) -> int:
    """Bytes of the data files a commit added, summed from the ``add`` actions of its log ``entry``."""
    total = 0
    for line in entry.splitlines():
        action = orjson.loads(line) if line.strip() else {}
        add = action.get("add")
        if add and add.get("dataChange", True):
            total += int(add.get("size", 0))
    return total


def _parse(note: object) -> dict[str, Any] | None:
    if not isinstance(note, str):
        return None
    try:
        mark = json.loads(note).get(_MARK)
    except (ValueError, AttributeError):
        return None
    return mark if isinstance(mark, dict) else None
