"""The keys a full read has seen, kept on disk rather than in memory.

A full resync must delete the dataset's keys the source no longer has, so it needs every key it read; a
Python set of them grows with the table. ``KeySpill`` writes each page's keys to an Arrow IPC file in a
temporary folder as the page goes by (memory: one page's keys), and the lake finds the missing keys with an
anti-join over that file (``Lake.missing_keys``), which streams them back in commit-sized chunks.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

KEY_SCHEMA = pa.schema([pa.field("k", pa.string())])
RESUMED_RESYNC_NOTE = {
    "code": "CONNECTOR-3001-200",
    "message": (
        "A full resync resumed after an interruption: the source's keys were read again at its "
        "end to find the rows deleted at the source."
    ),
}

FULL_REFRESH_NOTE = {
    "code": "CONNECTOR-3005-200",
    "message": (
        "Full refresh requested (params.fullRefresh): the table is read in full, every row is written again "
        "with today's columns and rows the source does not have are deleted."
    ),
}


def resync_note(reason: str) -> dict[str, str]:
    """The run's note when the source itself restarted from scratch (an expired or refused change token)."""
    return {
        "code": "CONNECTOR-3003-200",
        "message": f"{reason} The table is read in full and rows the source does not have are deleted.",
    }


class KeySpill:
    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="flowservice-resync-")
        self.path = str(Path(self.folder) / "seen.arrow")
        self._writer: pa.ipc.RecordBatchFileWriter | None = pa.ipc.new_file(self.path, KEY_SCHEMA)
        self.count = 0  # keys written
        self.largest_batch = 0  # the most keys ever held in memory at once: one page's

    def add(self, keys: pa.Array | pa.ChunkedArray) -> None:
        """Write one page's keys (cast to text, as the dataset's keys are compared) and hold none of them."""
        assert self._writer is not None, "the spill is already closed"
        text = pc.cast(keys, pa.string())
        batch = pa.record_batch(
            [text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text], schema=KEY_SCHEMA
        )
        self.largest_batch = max(self.largest_batch, batch.num_rows)
        self._writer.write_batch(batch)
        self.count += batch.num_rows

    def files(self) -> list[str]:
        """The spilled files, complete: no key can be added afterwards."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return [self.path]

    def spill_dir(self) -> str:
        """Where the anti-join may spill its own state."""
        return self.folder

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> KeySpill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
