"""Generated rows rendered once and kept: in memory (an LRU bounded in bytes) and, after ``--prerender``, on disk.

Generated rows never change (writes live in the overlay), so a rendered chunk of ``CHUNK`` consecutive rows
stays valid for as long as the seed, the scale and the generators do. A run of a chunk is served as a slice,
without touching the records one by one.

The disk store exists for first reads: ``--prerender`` renders whole tables into the data directory before
the emulator reports ready, so the first pass over them is a file read per chunk instead of ~7 µs of Python
per record, and memory stays bounded at any scale. Files are keyed by a fingerprint of the seed, the scale and
a sample of every table's rendering, so a restart with the same data directory reuses them and any change to
the generators invalidates them. It holds the default shape only (every column, no annotations); other shapes
(a ``$select``, lookup annotations) live in the memory cache, keyed by their shape too.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from crm_emulator.rows import SEPARATOR, TableRows
from crm_emulator.shapes import DEFAULT, Shape

log = logging.getLogger("crm_emulator")
CHUNK = 1000


class RenderedChunk:
    """``count`` consecutive generated rows as one comma-separated run.

    Serving a run of them is a slice of ``blob`` (a memoryview, no copy). Where each record starts is only
    worked out when a page boundary falls inside the chunk, by finding the separators.
    """

    __slots__ = ("_starts", "blob", "count")

    def __init__(self, blob: bytes, count: int) -> None:
        self.blob = blob
        self.count = count
        self._starts: list[int] | None = None

    def starts(self) -> list[int]:
        """Offset of each record, plus one past the end (as if a comma followed the last record)."""
        if self._starts is None:
            blob, out, at = self.blob, [0], 0
            while (at := blob.find(SEPARATOR, at)) >= 0:
                at += 2
                out.append(at)
            out.append(len(blob) + 1)
            if len(out) != self.count + 1:
                raise ValueError("a rendered chunk does not hold the records it should")
            self._starts = out
        return self._starts

    def run(self, start: int, stop: int) -> memoryview:
        """Records ``start..stop-1`` (chunk-relative), comma-separated."""
        if start == 0 and stop == self.count:
            return memoryview(self.blob)
        starts = self.starts()
        return memoryview(self.blob)[starts[start] : starts[stop] - 1]

    @property
    def size(self) -> int:
        return len(self.blob) + (8 * self.count if self._starts else 0)


class RenderCache:
    """LRU of rendered chunks, bounded in bytes."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.size = 0
        self.chunks: OrderedDict[tuple[str, int, Shape], RenderedChunk] = OrderedDict()

    def get(self, table: str, chunk: int, shape: Shape = DEFAULT) -> RenderedChunk | None:
        key = (table, chunk, shape)
        found = self.chunks.get(key)
        if found is not None:
            self.chunks.move_to_end(key)
        return found

    def put(self, table: str, chunk: int, rendered: RenderedChunk, shape: Shape = DEFAULT) -> None:
        if self.budget <= 0:
            return
        old = self.chunks.pop((table, chunk, shape), None)
        if old is not None:
            self.size -= old.size
        self.chunks[(table, chunk, shape)] = rendered
        self.size += rendered.size
        while self.size > self.budget and self.chunks:
            _, dropped = self.chunks.popitem(last=False)
            self.size -= dropped.size


class RenderStore:
    """Rendered chunks as files ``<root>/<fingerprint>/<table>/<chunk>``, written atomically."""

    def __init__(self, root: Path, fingerprint: str) -> None:
        self.root = root
        self.dir = root / fingerprint
        self.present: set[tuple[str, int]] = set()
        if self.dir.is_dir():
            for table_dir in self.dir.iterdir():
                self.present.update((table_dir.name, int(f.name)) for f in table_dir.iterdir() if f.name.isdigit())

    def get(self, table: str, chunk: int) -> bytes | None:
        if (table, chunk) not in self.present:
            return None
        return (self.dir / table / str(chunk)).read_bytes()

    def put(self, table: str, chunk: int, blob: bytes) -> None:
        if not self.present and self.root.is_dir():  # first write: drop what other seeds or scales left
            for stale in self.root.iterdir():
                if stale != self.dir:
                    shutil.rmtree(stale, ignore_errors=True)
        path = self.dir / table / str(chunk)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{chunk}.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
        self.present.add((table, chunk))


def fingerprint(seed: int, scale: int, tables: Iterable[TableRows]) -> str:
    """Seed, scale and the first rows of every table as rendered now: a changed generator changes it."""
    digest = hashlib.blake2b(f"{seed}/{scale}".encode(), digest_size=12)
    for rows in tables:
        if rows.count:
            digest.update(rows.table.logical_name.encode() + rows.render_run(0, min(rows.count, 8)))
    return f"seed{seed}-scale{scale}-{digest.hexdigest()}"


class Rendered:
    """Where a chunk of generated rows comes from: the memory cache, the disk store, or the generators."""

    def __init__(self, cache_bytes: int, store: RenderStore | None) -> None:
        self.cache = RenderCache(cache_bytes)
        self.store = store

    def run(self, rows: TableRows, chunk: int, start: int, stop: int, shape: Shape = DEFAULT) -> bytes | memoryview:
        """Records ``start..stop-1`` of chunk ``chunk``, comma-separated."""
        name = rows.table.logical_name
        found = self.cache.get(name, chunk, shape)
        if found is None and self.store is not None and shape == DEFAULT:
            blob = self.store.get(name, chunk)
            if blob is not None:
                found = RenderedChunk(blob, self._count(rows, chunk))
        if found is None:
            if self.cache.budget <= 0:
                base = chunk * CHUNK
                return rows.render_run(base + start, base + stop, shape)
            found = self.render(rows, chunk, shape)
        return found.run(start, stop)

    def render(self, rows: TableRows, chunk: int, shape: Shape = DEFAULT) -> RenderedChunk:
        """Render a chunk into the memory cache."""
        count, base = self._count(rows, chunk), chunk * CHUNK
        rendered = RenderedChunk(rows.render_run(base, base + count, shape), count)
        self.cache.put(rows.table.logical_name, chunk, rendered, shape)
        return rendered

    def ready(self, rows: TableRows, chunk: int, shape: Shape = DEFAULT) -> bool:
        name = rows.table.logical_name
        return self.cache.get(name, chunk, shape) is not None or (
            shape == DEFAULT and self.store is not None and (name, chunk) in self.store.present
        )

    def prerender(self, tables: list[TableRows]) -> None:
        """Render whole tables into the disk store (chunks already there are kept)."""
        if self.store is None:
            raise ValueError("pre-rendering needs a data directory")
        for rows in tables:
            name = rows.table.logical_name
            started, done = time.monotonic(), 0
            for chunk in range((rows.count + CHUNK - 1) // CHUNK):
                if (name, chunk) not in self.store.present:
                    base = chunk * CHUNK
                    self.store.put(name, chunk, rows.render_run(base, base + self._count(rows, chunk)))
                    done += 1
            log.info("pre-rendered %s: %d chunks in %.1f s", name, done, time.monotonic() - started)

    @staticmethod
    def _count(rows: TableRows, chunk: int) -> int:
        return min(CHUNK, rows.count - chunk * CHUNK)
