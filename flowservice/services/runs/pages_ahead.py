"""The source's pages, read ahead of the loop that lands them (the engine's side of reading ahead).

Not to be confused with a source's own read-ahead (``sources/dynamics/readahead.py`` fetches a chain's next
links while a page is decoded): this one overlaps reading a whole page with landing the one before.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from queue import Empty, Full, Queue
from typing import Any

from flowservice.ports import Page

READ_AHEAD_PAGES = 1


class PagesAhead:
    """A source's pages, read in a thread of their own up to ``depth`` pages ahead of the loop that lands them.

    Reading a page (fetching, parsing, typing it) and landing the one before (mapping, committing) then overlap
    instead of taking turns; most of both runs outside the GIL (Arrow, delta-rs, sockets). Pages come out in
    the source's order, and an exception of the source comes out where it happened, after the pages before it.
    ``close`` (also on an early exit of the loop) stops the reading: the source's iterator is closed in its
    thread once the page being read is done. Memory: ``depth`` more pages than reading in turn.
    """

    _POLL = 0.2  # seconds between looks at the stop flag while waiting

    def __init__(self, pages: Iterator[Page], depth: int) -> None:
        self._pages = pages
        self._queue: Queue[tuple[str, Any]] = Queue(maxsize=max(1, depth))
        self._stopped = threading.Event()
        # in a copy of the run's context, so that the source's log lines name the run (``domain.log_context``)
        reading = contextvars.copy_context()
        self._thread = threading.Thread(target=reading.run, args=(self._read,), name="source-pages", daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[Page]:
        while True:
            try:
                kind, value = self._queue.get(timeout=self._POLL)
            except Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    raise RuntimeError("the source's reading thread ended without a word") from None
                continue
            if kind == "page":
                yield value
            elif kind == "error":
                raise value
            else:
                return

    def close(self) -> None:
        self._stopped.set()
        while True:
            try:
                self._queue.get_nowait()
            except Empty:
                return

    def __enter__(self) -> PagesAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> None:
        try:
            for page in self._pages:
                if not self._put(("page", page)):
                    return
                del page
            self._put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the landing loop, which raises it
            self._put(("error", exc))
        finally:
            close = getattr(self._pages, "close", None)
            if close is not None:
                close()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=self._POLL)
                return True
            except Full:
                continue
        return False
