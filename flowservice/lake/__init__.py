"""The lake: datasets as Delta Lake tables (delta-rs), queried with DuckDB.

``DeltaLake`` implements ``ports.Lake``; ``s3_options`` builds storage options for S3-compatible
object stores.
"""

import os

# delta-rs allocates through its own (statically linked) jemalloc, which by default keeps freed pages for ten
# seconds: commit after commit, a run would hold some 75 MB of delta-rs's write buffers it no longer uses. One
# second still lets consecutive writes reuse them and hands the rest back (measured on a million-row load: the
# same throughput, peak RSS 430 -> 390 MB). An operator's own setting wins, and it only applies when this
# module is the first to import deltalake, before jemalloc reads it.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:1000,muzzy_decay_ms:0")

import pyarrow as pa

from flowservice.lake.delta import DeltaLake  # after the allocator setting above
from flowservice.lake.storage import root_problem, s3_options

# Arrow's default pool (mimalloc) keeps freed segments for reuse; a run's allocations are page- and commit-sized
# buffers that the C library's allocator maps and unmaps whole. Measured on a 100,000-row load: peak RSS 425 ->
# 388 MB, the same throughput. ``ARROW_DEFAULT_MEMORY_POOL`` set by an operator wins.
if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
    pa.set_memory_pool(pa.system_memory_pool())

__all__ = ["DeltaLake", "root_problem", "s3_options"]
