"""The first full read of a big change-tracked table, in key ranges read side by side, exactly once, behind the
one cursor the engine knows (docs/architecture.md, *Partitioned reads*, says why it is built this way).

A key-only tracked scan (``$select=<key>``, ``Prefer: odata.track-changes``) walks the table in primary-key
order, SQL Server's ``uniqueidentifier`` order. Each of its pages cuts a *tile*, ``key gt <previous cut> and
key le <this page's last key>`` (the first without a lower bound, the last without an upper one), which a worker
reads with its own ``$filter`` and nextLink chain while the scan goes on; the scan's delta link, taken when it
started, ends the read, so nothing changed during the load is lost. Pages of all tiles come out interleaved; the
cursor after each is composite (``mode: partitioned``): the scan's position and every tile cut but not finished,
at the position after its last page handed out. A page fetched and not yet handed out never moves a position,
so resuming from any committed cursor reads each row once. Memory: ``partition_pages_in_flight`` pages, shared
by every tile, of which ``DECODERS`` are being decoded at once.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from flowservice.domain.errors import SourceError, SourceRefused
from flowservice.ports import Page, TableSchema
from flowservice.sources.net.arrow_pool import system_pool

from .convert import DecodedPage
from .read_plan import plan_read
from .reader import Reader, with_select

log = logging.getLogger(__name__)

PARTITIONED = "partitioned"
_POLL = 0.2  # seconds between looks at the stop flag while waiting
_TRACKED = {"Cache-Control": "no-cache"}
#: pages decoded at once, whatever the number of workers: decoding is CPU work (two cores make it no faster
#: beyond two), and each decode holds a page's worth of temporaries in the heap of the thread doing it
DECODERS = 2
#: rows of the probe that times the org before a read is partitioned (``PartitionedRead._slow_org``)
PROBE_ROWS = 500


def sql_order(guid: str) -> bytes:
    """A sort key of SQL Server's ``uniqueidentifier`` order: the bytes of the GUID as .NET stores them (the
    first three groups little-endian), compared from byte 10 to 15, then 8–9, 6–7, 4–5 and 0–3."""
    b = uuid.UUID(guid).bytes_le
    return b[10:16] + b[8:10] + b[6:8] + b[4:6] + b[0:4]


@dataclass(eq=False)
class Tile:
    """Keys in ``(lo, hi]`` (None: unbounded). ``at``: the link after the tile's last page handed out (None:
    none yet); ``fetch_at``: where its worker fetches next; ``tries``: times it was taken up again."""

    lo: str | None
    hi: str | None
    at: str | None = None
    fetch_at: str | None = None
    tries: int = 0

    def saved(self) -> list[str | None]:
        return [self.lo, self.hi, self.at]


class PartitionedRead:
    """One partitioned read: ``start`` decides whether the table is big enough and the org slow enough, ``pages``
    yields the pages. The caller's ``data`` reader decodes tiles; ``keys`` reads the key-only scan."""

    def __init__(self, data: Reader, keys: Reader, cursor: dict[str, Any] | None, full_resync: bool) -> None:
        self.data = data
        self.keys = keys
        settings = data.http.settings
        self.settings = settings
        self.pk = data.plan.meta.info.primary_key or ""
        saved = cursor or {}
        self.page_size = int(saved.get("page_size") or min(settings.partition_page_rows, data.plan.meta.max_page_size))
        self.full_resync = bool(saved.get("full_resync", full_resync))
        self.keys_link: str | None = saved.get("keys")
        self.last_cut: str | None = saved.get("last")
        self.delta_link: str | None = saved.get("delta_link")
        self.scan_done = self.delta_link is not None
        self.live: list[Tile] = [Tile(lo, hi, at, at) for lo, hi, at in saved.get("tiles", [])]
        self.waiting: deque[Tile] = deque(self.live)
        self.started = cursor is not None  # a resumed read is past the decision
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._out: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._permits = threading.Semaphore(settings.partition_pages_in_flight)
        self._threads: list[threading.Thread] = []
        self._hinted = False

    # ------------------------------------------------------------------------------------------ decision
    def start(self) -> bool:
        """True: read partitioned; False: the caller reads the table in one chain (what was read is dropped).

        A resumed read goes on. A fresh one scans keys until ``partition_min_rows`` of them are seen (a table
        that ends first is small), then times a probe of the first tile's rows: an org that answers at
        ``partition_below_rows_per_second`` or more is fast, and its single chain is faster and lighter than
        ranges side by side (docs/performance.md); a slower one is read partitioned."""
        if self.started:
            return True
        seen = 0
        while True:
            page = self._key_page()
            seen += page.batch.num_rows
            if not _guid_keys(page.batch.column(self.pk)):
                return False  # ranges are compared as uniqueidentifiers; Dataverse's keys always are
            self._cut(page)
            if seen >= self.settings.partition_min_rows and seen > 0:
                self.started = self._slow_org()
                return self.started
            if self.scan_done:
                return False

    def _slow_org(self) -> bool:
        """Whether the org is slow enough to read in partitions: the first tile's first ``PROBE_ROWS`` rows
        (all its columns) are asked for alone and timed, then dropped (the tile reads them again). A small
        probe decides in a fraction of a slow page's seconds; a request's fixed part only makes a slow org
        look slower, and a fast one answers it in milliseconds either way."""
        threshold = self.settings.partition_below_rows_per_second
        if threshold == 0:
            return True
        rows = min(PROBE_ROWS, self.page_size)
        tile, reader = self.waiting[0], self.data
        bounds = {**self._bounds(tile), "$top": str(rows)}
        page, _ = reader.page(None, lambda: reader.url(bounds), reader.plan.prefer(page_size=rows))
        got, elapsed = page.batch.num_rows, reader.elapsed
        rate = got / elapsed if elapsed else float("inf")
        slow = got > 0 and rate < threshold
        log.info(
            "%s answered %d rows in %.3f s (%.0f rows/s): %s",
            reader.plan.table,
            got,
            elapsed or 0.0,
            rate,
            "reading it in partitions" if slow else "reading it in one chain",
        )
        return slow

    # ------------------------------------------------------------------------------------------- reading
    def pages(self) -> Iterator[Page]:
        assert self.started, "start() first"
        with system_pool():  # a dozen threads holding pages: see ``net/arrow_pool.py``
            yield from self._pages()

    def _pages(self) -> Iterator[Page]:
        workers = self.settings.partition_concurrency
        if not self.scan_done:
            self._spawn(self._scan, "dataverse-key-scan")
        decoding = threading.Semaphore(DECODERS)
        for n in range(workers):
            reader = Reader(self.data.http, self.data.plan, self.data.unselectable, decoding)
            self._spawn(lambda r=reader: self._work(r), f"dataverse-partition-{n}")
        try:
            yield from self._hand_out()
        finally:
            self._stop.set()
            with self._cond:
                self._cond.notify_all()

    def _hand_out(self) -> Iterator[Page]:
        while True:
            with self._cond:
                if self.scan_done and not self.live:
                    final = {"mode": "changes", "delta_link": with_select(str(self.delta_link), self._select())}
                    break
            try:
                kind, value = self._out.get(timeout=_POLL)
            except queue.Empty:
                if not any(t.is_alive() for t in self._threads) and self._out.empty():
                    raise RuntimeError("the partitioned read's threads ended without a word") from None
                continue
            if kind == "error":
                raise value
            tile, page, size = value
            with self._cond:
                if page.next_link:
                    tile.at = page.next_link
                else:
                    self.live.remove(tile)
                cursor = self._cursor()
            if page.batch.num_rows:
                yield Page(
                    batch=self.data.out(page.batch),
                    cursor=cursor,
                    full_resync=self.full_resync,
                    bytes_read=size,
                )
            del page, value
            self._permits.release()
        out = pa.schema([pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in self.data.plan.out])
        yield Page(batch=_empty(out), cursor=final, final=True, full_resync=self.full_resync)

    def _cursor(self) -> dict[str, Any]:
        """The position after the page being handed out (called under the lock)."""
        cursor: dict[str, Any] = {
            "mode": PARTITIONED,
            "page_size": self.page_size,
            "keys": self.keys_link,
            "last": self.last_cut,
            "delta_link": self.delta_link,
            "tiles": [tile.saved() for tile in self.live],
        }
        if self.full_resync:
            cursor["full_resync"] = True
        return cursor

    # ------------------------------------------------------------------------------------------ the scan
    def _key_page(self) -> DecodedPage:
        prefer = self.keys.plan.prefer("odata.track-changes", page_size=self.page_size)
        page, _ = self.keys.page(self.keys_link, lambda: self.keys.url({}), prefer, _TRACKED, deletes=True)
        if not self._hinted:
            self._hinted = True
            hint = self.keys.dop_hint
            if hint and hint.isdigit():
                self.keys.http.limiter.hint(int(hint), ramp=True)
        return page

    def _scan(self) -> None:
        """The rest of the scan, in a thread; a page that fails with a retryable error (after the call's own
        retries) is asked for again, ``partition_retries`` times in all, like a tile's."""
        room = 2 * self.settings.partition_concurrency
        tries = 0
        try:
            while not self._stop.is_set():
                with self._cond:
                    while len(self.waiting) >= room and not self._stop.is_set():
                        self._cond.wait(_POLL)
                if self._stop.is_set():
                    return
                try:
                    page = self._key_page()
                except SourceError as exc:
                    if not exc.retryable or tries >= self.settings.partition_retries:
                        raise
                    tries += 1
                    log.warning("the key scan of %s failed, asking again: %s", self.data.plan.table, exc.message)
                    continue
                self._cut(page)
                if self.scan_done:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._out.put(("error", exc))

    def _cut(self, page: DecodedPage) -> None:
        """Cut the tile that ends at ``page``'s last key (or, on the scan's last page, the open-ended last one)."""
        keys = page.batch.column(self.pk)
        first = keys[0].as_py() if len(keys) else None
        last = keys[-1].as_py() if len(keys) else None
        with self._cond:
            if first is not None and last is not None:
                low = self.last_cut
                if sql_order(last) < sql_order(first) or (low is not None and sql_order(first) <= sql_order(low)):
                    raise SourceRefused(
                        f"Dataverse did not return the keys of {self.data.plan.table} in primary-key order, so it "
                        "cannot be read in partitions; set FLOWSERVICE_DYNAMICS_PARTITION_MIN_ROWS=0"
                    )
            if page.next_link:
                if last is not None:
                    self._add(Tile(self.last_cut, last))
                    self.last_cut = last
                self.keys_link = page.next_link
            else:
                if not page.delta_link:
                    raise SourceRefused(
                        f"Dataverse did not return a delta link for {self.data.plan.table} although its metadata "
                        "says change tracking is enabled"
                    )
                self._add(Tile(self.last_cut, None))
                self.keys_link = None
                self.delta_link = page.delta_link
                self.scan_done = True
            self._cond.notify_all()

    def _add(self, tile: Tile) -> None:
        self.live.append(tile)
        self.waiting.append(tile)

    # --------------------------------------------------------------------------------------- the workers
    def _work(self, reader: Reader) -> None:
        while not self._stop.is_set():
            with self._cond:
                while not self.waiting and not self.scan_done and not self._stop.is_set():
                    self._cond.wait(_POLL)
                if self._stop.is_set() or not self.waiting:
                    return
                tile = self.waiting.popleft()
                self._cond.notify_all()  # the scan may be waiting for room
            if not self._read_tile(reader, tile):
                return

    def _read_tile(self, reader: Reader, tile: Tile) -> bool:
        """Fetch ``tile``'s pages into the hand-out queue; False when the read must stop."""
        prefer = reader.plan.prefer(page_size=self.page_size)
        while True:
            while not self._permits.acquire(timeout=_POLL):
                if self._stop.is_set():
                    return False
            if self._stop.is_set():
                self._permits.release()
                return False
            link = tile.fetch_at
            try:
                page, size = reader.page(link, lambda: reader.url(self._bounds(tile)), prefer)
            except SourceError as exc:
                self._permits.release()
                if exc.retryable and tile.tries < self.settings.partition_retries:
                    tile.tries += 1
                    log.warning(
                        "partition %s..%s of %s failed, taking it up again: %s",
                        tile.lo,
                        tile.hi,
                        reader.plan.table,
                        exc.message,
                    )
                    with self._cond:
                        self.waiting.append(tile)
                        self._cond.notify_all()
                    return True
                self._out.put(("error", exc))
                return False
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
                self._permits.release()
                self._out.put(("error", exc))
                return False
            tile.fetch_at = page.next_link
            self._out.put(("page", (tile, page, size)))
            del page
            if tile.fetch_at is None:
                return True

    def _bounds(self, tile: Tile) -> dict[str, str]:
        parts = []
        if tile.lo is not None:
            parts.append(f"{self.pk} gt {tile.lo}")
        if tile.hi is not None:
            parts.append(f"{self.pk} le {tile.hi}")
        return {"$filter": " and ".join(parts)} if parts else {}

    # ------------------------------------------------------------------------------------------- helpers
    def _select(self) -> str:
        return self.data.plan.select(self.data.unselectable)

    def _spawn(self, target: Any, name: str) -> None:
        context = contextvars.copy_context()  # the run's log context, one copy per thread
        thread = threading.Thread(target=context.run, args=(target,), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()


def _guid_keys(keys: pa.Array | pa.ChunkedArray) -> bool:
    for key in (keys[0].as_py(), keys[-1].as_py()) if len(keys) else ():
        try:
            uuid.UUID(str(key))
        except ValueError:
            return False
    return True


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)


def partitioned_read(data: Reader, schema: TableSchema, cursor: dict[str, Any] | None) -> PartitionedRead | None:
    """The partitioned read of ``data``'s table from ``cursor``, or None when the single chain reads it: a
    resumed partitioned read always continues; a full read of a change-tracked table may start one (its
    ``start`` decides by size); incremental reads, and tables without change tracking, never."""
    meta = data.plan.meta
    if not meta.info.change_tracking or not meta.info.primary_key:
        return None
    saved = cursor or {}
    mode = saved.get("mode")
    if mode != PARTITIONED:
        if data.http.settings.partition_min_rows == 0:
            return None
        if mode == "changes" and (saved.get("delta_link") or saved.get("next_link")):
            return None  # an incremental read, or the middle of a single chain
    size = min(data.http.settings.partition_page_rows, meta.max_page_size)
    keys = Reader(data.http, plan_read(schema, meta, [meta.info.primary_key], size), set())
    keys.limited = False  # the scan paces the tiles: one request at a time, never queued behind theirs
    if mode == PARTITIONED:
        return PartitionedRead(data, keys, saved, False)
    return PartitionedRead(data, keys, None, full_resync=mode is not None)
