"""While partitioned reads run, Arrow's default pool is the C allocator's; the process's own comes back when the
last of them ends (``sources/net/arrow_pool.py``)."""

from __future__ import annotations

import pyarrow as pa

from flowservice.sources.net.arrow_pool import system_pool


def test_the_default_pool_is_the_systems_until_the_last_overlapping_read_ends() -> None:
    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.mimalloc_memory_pool())  # any pool other than the system's stands for jemalloc
    try:
        first, second = system_pool(), system_pool()
        first.__enter__()
        assert pa.default_memory_pool().backend_name == "system"
        second.__enter__()
        first.__exit__(None, None, None)
        assert pa.default_memory_pool().backend_name == "system", "another read still holds pages"
        second.__exit__(None, None, None)
        assert pa.default_memory_pool().backend_name == "mimalloc"
    finally:
        pa.set_memory_pool(before)


def test_a_buffer_allocated_under_the_system_pool_is_freed_to_it_after_the_switch_back() -> None:
    with system_pool():
        buffer = pa.allocate_buffer(1 << 20)
    system = pa.system_memory_pool()
    held = system.bytes_allocated()
    del buffer
    assert system.bytes_allocated() <= held - (1 << 20)
