"""Render the page a sequential reader will ask for next, while the emulator would otherwise wait for it.

A client paging through a table spends time on each page (parsing, writing it somewhere) before it follows the
nextLink. Once a page rendered by the fast path has been sent, the generated rows of the following page are
rendered into the render cache, in the page's shape, in the background, one cache chunk per event-loop turn so
other requests go first. The next request then only sends ready bytes: the emulator's time hides behind the
client's. The same single thread does the work, so nothing runs in parallel with the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from crm_emulator.data import Item, OrgData
from crm_emulator.rendered import CHUNK
from crm_emulator.shapes import DEFAULT, Shape

log = logging.getLogger("crm_emulator")


class ReadAhead:
    def __init__(self, data: OrgData, max_chunks: int = 12) -> None:
        self.data = data
        self.max_chunks = max_chunks
        self.queue: deque[tuple[str, int, Shape]] = deque()
        self.task: asyncio.Task[None] | None = None

    def after_page(self, table: str, last: Item, page_size: int, shape: Shape = DEFAULT) -> None:
        """Queue the chunks holding the ``page_size`` rows after ``last``."""
        cache = self.data.cache
        if cache.budget < 4 * page_size * 4096:  # room for a few pages of ~4 KB records, or not worth it
            return
        chunks: list[int] = []
        left = page_size
        for segment in self.data.segments(table, self.data.item_id(table, last)):
            if not isinstance(segment, range):
                left -= 1
            else:
                stop = segment.start + min(left, len(segment))
                chunks.extend(range(segment.start // CHUNK, (stop - 1) // CHUNK + 1))
                left -= stop - segment.start
            if left <= 0:
                break
        for chunk in dict.fromkeys(chunks):
            key = (table, chunk, shape)
            if len(self.queue) < self.max_chunks and key not in self.queue and cache.get(*key) is None:
                self.queue.append(key)
        if self.queue and (self.task is None or self.task.done()):
            self.task = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        while self.queue:
            await asyncio.sleep(0)  # let requests that arrived meanwhile go first
            table, chunk, shape = self.queue.popleft()
            try:
                self.data.prerender(table, chunk, shape)
            except Exception:
                log.exception("read-ahead of %s chunk %d failed", table, chunk)
