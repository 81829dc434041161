"""Keep freed heap memory in the process, and fault the render cache's memory in ahead of time.

Every 4 KiB page a process touches for the first time is zeroed by the kernel on a page fault; on the VMs the
emulator runs on that costs ~3 µs, about as much as rendering a 3.5 KB record. glibc makes it worse by handing
large blocks back to the kernel as soon as they are freed (``mmap`` above 128 KiB, heap trimming above 128 KiB
free at the top), so every response's buffers get faulted in again. :func:`keep_freed_memory` raises those
thresholds, so one page's buffers are reused by the next (the process never holds more than its peak), and
:func:`prefault` touches the memory the render cache will fill at start-up, so the first read does not pay
for it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

log = logging.getLogger("crm_emulator")

MIB = 1024 * 1024
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 32 * MIB  # glibc's maximum on 64-bit
TOP_PAD = 64 * MIB
SLACK = 512 * MIB
BLOCK = 16 * MIB


def _libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc.restype = ctypes.c_void_p
        libc.malloc.argtypes = [ctypes.c_size_t]
        libc.free.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def trim_threshold(reserve: int) -> int:
    return min(reserve + SLACK, 2**31 - 1)


def keep_freed_memory(reserve: int = 0) -> bool:
    """Tune glibc's allocator for this process; False (nothing changed) on other C libraries.

    ``reserve`` bytes more than usual stay in the heap once freed (the render cache's budget). One arena for
    all threads keeps freed memory in one place for whichever thread allocates next.
    """
    libc = _libc()
    if libc is None:
        return False
    trim = trim_threshold(reserve)
    settings = ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, trim), (M_TOP_PAD, TOP_PAD))
    ok = all(libc.mallopt(option, value) for option, value in settings)
    if not ok:
        log.debug("mallopt refused a setting")
    return bool(ok)


def prefault(size: int, reserve: int) -> int:
    """Touch ``size`` bytes of heap, then free them for the render cache to fill without page faults.

    Capped below :func:`keep_freed_memory`'s trim threshold for ``reserve``: glibc gives back nearly all of a
    free heap top larger than that. Returns the bytes touched. Start-up pays ~1 s per 1.5 GB, once.
    """
    libc = _libc()
    size = min(size, trim_threshold(reserve) - SLACK // 2)
    if libc is None or size <= 0:
        return 0
    blocks = []
    for _ in range(max(1, size // BLOCK)):
        block = libc.malloc(BLOCK)
        if not block:
            break
        ctypes.memset(block, 0, BLOCK)
        blocks.append(block)
    for block in blocks:
        libc.free(block)
    return len(blocks) * BLOCK
