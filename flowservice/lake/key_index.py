"""The keys a table holds, as 64-bit fingerprints in memory, so that a merge can tell a batch of new keys apart
without reading the key column of every file.

A first load lands new keys only, and the merge appends them instead of running a MERGE when no key of the batch
is in the table (``delta._merge``). The log's key ranges tell that at once when keys come in text order, but a
Dataverse table's keys are GUIDs, paged in SQL Server's order and often random: every file's range then spans
nearly all keys, and the check read the key column of every earlier file, each commit, work growing with the
square of the table (``bench/lake_commits.py --random-keys``: 138 ms a commit at first, 569 ms after 120 commits
of 6,400 rows, against 75 ms with keys in order).

An index is built once per table and process from the key column of every file (one read, the cost of one such
check), then grows with each merge this lake commits, and is used only at the very version it covers: any other
commit (another writer, a widening, an append) leaves it behind and it is built again. Deleted keys stay in it:
a fingerprint found means "maybe there", which sends the batch down the exact path (the file scan, then MERGE),
so neither a stale key nor a collision can make the append shortcut wrong. Tables of more than ``MAX_KEYS`` rows
keep the file scan (32 MB of fingerprints at most per table, ``LIMIT_TABLES`` tables). A check hashes the
batch's few thousand fingerprints and probes them with the index's: ~1M probes, milliseconds, per commit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

MAX_KEYS = 4_000_000
LIMIT_TABLES = 4


def fingerprints(keys: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The 64-bit fingerprints of ``keys`` (nulls skipped): Python's own hash, stable within a process, which is
    as long as an index lives."""
    return pa.array([hash(v) for v in keys.to_pylist() if v is not None], pa.int64())


@dataclass(frozen=True)
class KeyIndex:
    key: str  # the key column
    version: int  # the table version whose keys (and perhaps keys deleted since) it holds
    found: pa.ChunkedArray  # int64 fingerprints, one chunk per commit it has seen

    @property
    def size(self) -> int:
        return len(self.found)

    def may_hold_any(self, batch: pa.Array) -> bool:
        """Whether a fingerprint of ``batch`` is in the index (the batch's set probed by the index's values:
        a hash of a few thousand, not of the table)."""
        if len(batch) == 0 or self.size == 0:
            return False
        return bool(pc.any(pc.is_in(self.found, value_set=batch)).as_py())

    def grown(self, batch: pa.Array, version: int) -> KeyIndex:
        chunks = [*self.found.chunks, batch] if len(batch) else list(self.found.chunks)
        return KeyIndex(self.key, version, pa.chunked_array(chunks, pa.int64()))

    @classmethod
    def of(cls, key: str, version: int, parts: list[pa.Array]) -> KeyIndex:
        return cls(key, version, pa.chunked_array(parts, pa.int64()))


class KeyIndexes:
    """Per table URI, the index of its keys at one version (the newest of this lake's commits to it)."""

    def __init__(self, limit: int = LIMIT_TABLES, max_keys: int = MAX_KEYS) -> None:
        self._limit = limit
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._indexes: OrderedDict[str, KeyIndex] = OrderedDict()

    def at(self, uri: str, key: str, version: int, build: Callable[[], KeyIndex | None]) -> KeyIndex | None:
        """The index of ``uri``'s ``key`` at ``version``: the one kept if it is at that version, else
        ``build()`` (None: the table is too large, or its keys cannot be read: the caller scans files)."""
        with self._lock:
            index = self._indexes.get(uri)
        if index is not None and index.key == key and index.version == version:
            return index
        index = build()
        self._put(uri, index)
        return index

    def landed(self, uri: str, key: str, before: int, after: int, keys: pa.Array | pa.ChunkedArray) -> None:
        """A merge of ``keys`` committed ``after`` on top of ``before``: the index follows, if it was at ``before``
        and stays within ``max_keys``."""
        with self._lock:
            index = self._indexes.get(uri)
        if index is None or index.key != key or index.version != before:
            self._put(uri, None)
            return
        grown = index.grown(fingerprints(keys), after)
        self._put(uri, grown if grown.size <= self.max_keys else None)

    def forget(self, uri: str) -> None:
        self._put(uri, None)

    def _put(self, uri: str, index: KeyIndex | None) -> None:
        with self._lock:
            self._indexes.pop(uri, None)
            if index is not None and self._limit > 0:
                self._indexes[uri] = index
                while len(self._indexes) > self._limit:
                    self._indexes.popitem(last=False)
