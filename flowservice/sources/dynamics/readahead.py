"""Fetching the pages of a chain ahead of their conversion, in one background thread.

A chain's links are sequential (page n names page n+1), yet Dataverse serves concurrent requests: so as soon as
page n's bytes arrive, its next link is read from their last bytes (``convert.next_link_hint``) and a thread
fetches it, and the pages after it, up to ``depth`` pages ahead, while the reader converts page n and the engine
lands it. Network time and the server's time then overlap our own work instead of adding to it.

A guess is only a guess: the reader takes a fetched page only for the very link (and headers) that the parsed
previous page names, and otherwise drops what was fetched ahead and fetches the link itself. What the thread
fetched — a page, an error status or a transport error — is handed to ``DataverseHttp.get_json(first=...)``,
which treats it exactly like a response it had just received (retries, token refresh, throttling), so reading
ahead changes when requests are made, never what a read yields. Memory: at most ``depth`` pages in flight.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .convert import next_link_hint
from .http import Received

log = logging.getLogger(__name__)

Key = tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]
Fetch = Callable[[Key], Received]
_POLL = 0.2  # seconds between checks of the stop flag while waiting


def chain_key(url: str, prefer: list[str], headers: dict[str, str] | None) -> Key:
    return url, tuple(prefer), tuple(sorted((headers or {}).items()))


@dataclass
class Fetched:
    key: Key
    received: Received | None
    error: Exception | None

    def result(self) -> Received:
        if self.error is not None:
            raise self.error
        assert self.received is not None
        return self.received


class _Follower:
    """One thread following one chain from one link, ``depth`` fetches ahead of the taker at most."""

    def __init__(self, fetch: Fetch, key: Key, depth: int) -> None:
        self.fetched: queue.Queue[Fetched] = queue.Queue()
        self.stopped = threading.Event()
        self._room = threading.Semaphore(depth)
        self.thread = threading.Thread(target=self._run, args=(fetch, key), name="dataverse-read-ahead", daemon=True)
        self.thread.start()

    def busy(self) -> bool:
        return self.thread.is_alive() or not self.fetched.empty()

    def take(self) -> Fetched | None:
        """The next fetched page, waiting for it if the thread is still at work; None if there is none."""
        while True:
            try:
                item = self.fetched.get(timeout=_POLL)
            except queue.Empty:
                if self.thread.is_alive():
                    continue
                try:
                    item = self.fetched.get_nowait()
                except queue.Empty:
                    return None
            self._room.release()
            return item

    def stop(self) -> None:
        self.stopped.set()
        while True:  # drop what was fetched for nobody
            try:
                self.fetched.get_nowait()
            except queue.Empty:
                break
        self._room.release()  # wake the thread if it waits for room

    def _run(self, fetch: Fetch, key: Key) -> None:
        url: str | None = key[0]
        while url is not None:
            while not self._room.acquire(timeout=_POLL):
                if self.stopped.is_set():
                    return
            if self.stopped.is_set():
                return
            key = (url, key[1], key[2])
            try:
                item = Fetched(key, fetch(key), None)
            except Exception as exc:  # noqa: BLE001 - handed to the reader, which decides (retry or give up)
                item = Fetched(key, None, exc)
            if self.stopped.is_set():
                return
            self.fetched.put(item)
            if item.received is None or item.received[1] is None:  # an error, or a status without a page
                return
            url = next_link_hint(item.received[1])
            del item


class ReadAhead:
    """The read-ahead of one reader: ``follow`` a link guessed from a page, ``take`` a page fetched ahead."""

    def __init__(self, fetch: Fetch, depth: int) -> None:
        self._fetch = fetch
        self._depth = max(1, depth)
        self._follower: _Follower | None = None
        self.hits = 0
        self.misses = 0

    def follow(self, key: Key) -> None:
        """Start fetching ``key``'s link and its successors, unless a thread is already ahead on this chain."""
        if self._follower is not None and self._follower.busy():
            return
        self._follower = _Follower(self._fetch, key, self._depth)

    def take(self, key: Key) -> Fetched | None:
        """What was fetched ahead for ``key``, or None (then nothing is fetched ahead any more until the next
        ``follow``): the caller fetches it itself."""
        follower = self._follower
        if follower is None:
            return None
        item = follower.take()
        if item is not None and item.key == key:
            self.hits += 1
            return item
        self.misses += 1
        log.debug("read-ahead guessed %s, the page names %s", item.key[0][:200] if item else None, key[0][:200])
        self.stop()
        return None

    def stop(self) -> None:
        if self._follower is not None:
            self._follower.stop()
            self._follower = None

    close = stop
