"""Tables kept open between the commits a lake makes to them, so the next commit refreshes a snapshot instead
of opening the table again.

A run commits to its table every few thousand rows, ~160 times for a million rows. Opening a ``DeltaTable``
lists and reads its log from the last checkpoint each time: on S3 that grew from ~26 to ~42 ms a commit over a
run (``bench/lake_commits.py``); ``update_incremental`` reads only the entries newer than the snapshot.

A kept table carries the digest of its newest log entry, which the lake compares with the log before reusing it:
``update_incremental`` applies whatever entries follow the snapshot's version, so on a table deleted and created
again (measured, delta-rs 1.6.6) it would lay the new table's commits over the old table's files. If the entry is
gone or differs, the lake opens the table afresh.

A snapshot brought up to date holds the files of each newer commit as a piece of its own, and what the lake reads
of it every commit gets slower with their number: ``get_add_actions``, which the key check reads, went from 0.4 to
4.8 ms over 120 commits (measured, delta-rs 1.6.6), where a fresh open has them from one checkpoint. So a table is
kept for ``REFRESHES`` commits after it was opened, then opened afresh, from a checkpoint at most that old (the
lake's tables checkpoint every 20 commits, ``storage.TABLE_CONFIGURATION``).

Tables are checked out: ``take`` removes a table, so no two commits (threads of one process) ever share one, and
the lake gives it back only after a commit landed on it. Few are kept, and not for long: the memory a snapshot
holds (its file list with statistics) should not outlive the runs writing to it, so the next commit to any table
lets go of the tables idle for five minutes.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from deltalake import DeltaTable

REFRESHES = 20


def digest(entry: bytes) -> bytes:
    return hashlib.blake2b(entry, digest_size=16).digest()


@dataclass(frozen=True)
class KeptTable:
    table: DeltaTable
    version: int  # the snapshot's version when it was kept
    entry_digest: bytes  # of that version's log entry, as the log held it then
    kept_at: float
    opened_at: int  # the version it was opened afresh at


class OpenTables:
    """At most ``limit`` tables by URI, each for at most ``idle_seconds`` since its last commit."""

    def __init__(self, limit: int = 8, idle_seconds: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self._limit = limit
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._tables: OrderedDict[str, KeptTable] = OrderedDict()

    def take(self, uri: str) -> KeptTable | None:
        with self._lock:
            self._expire()
            return self._tables.pop(uri, None)

    def keep(self, uri: str, table: DeltaTable, version: int, entry: bytes, opened_at: int) -> None:
        """Keep ``table``, whose snapshot is at ``version`` and whose log entry for it is ``entry``, unless it
        was opened ``REFRESHES`` versions or more before (``opened_at``): the next commit then opens it afresh."""
        kept = KeptTable(table, version, digest(entry), self._clock(), opened_at)
        with self._lock:
            self._tables.pop(uri, None)
            if self._limit <= 0 or version - opened_at >= REFRESHES:
                return
            self._tables[uri] = kept
            while len(self._tables) > self._limit:
                self._tables.popitem(last=False)
            self._expire()

    def forget(self, uri: str) -> None:
        with self._lock:
            self._tables.pop(uri, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tables)

    def _expire(self) -> None:
        oldest = self._clock() - self._idle_seconds
        while self._tables and next(iter(self._tables.values())).kept_at < oldest:
            self._tables.popitem(last=False)
