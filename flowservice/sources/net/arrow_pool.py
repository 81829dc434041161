"""Arrow's default pool while reads hold pages in many threads at once: the C allocator.

The process's pool is jemalloc (``lake/__init__.py``): one chain's pages, freed and allocated again by the same
few threads, reuse its memory without page faults (a fifth less CPU on a fast org). A partitioned read holds a
dozen pages of several megabytes in a dozen threads, and there jemalloc keeps what each frees: ~650 MB at peak
for 200,000 accounts on the costed emulator, against ~450 MB with the C allocator, which unmaps a freed page
at once (docs/performance.md). Such a read spends its time waiting for the org, so it takes the C allocator
while it runs. Arrow buffers go back to the pool that allocated them, so switching the default is safe;
reads that overlap one (other flows of the process) use it too until the last such read ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

_lock = threading.Lock()
_holders = 0
_before: pa.MemoryPool | None = None


@contextmanager
def system_pool() -> Iterator[None]:
    """Arrow's default pool is the C allocator's from the first ``with`` until the last one ends."""
    global _holders, _before
    with _lock:
        if _holders == 0:
            _before = pa.default_memory_pool()
            pa.set_memory_pool(pa.system_memory_pool())
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _before is not None:
                pa.set_memory_pool(_before)
                _before = None
