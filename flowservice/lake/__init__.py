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

# Arrow's pool: jemalloc (bundled with pyarrow), which reuses a freed page-sized buffer for the next page and
# hands unused memory back to the system after a second, as delta-rs's does above. The C library's allocator
# maps and unmaps each multi-megabyte buffer whole, and the page faults of mapping it again cost a run about a
# fifth of its CPU (100,000 accounts: 41.8 -> 34.0 CPU s per million rows, peak RSS +8 MB; mimalloc keeps
# ~35 MB more). ``ARROW_DEFAULT_MEMORY_POOL`` set by an operator wins. A partitioned read, whose dozen threads
# each hold pages, takes the C allocator while it runs (``sources/net/arrow_pool.py``).
if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        pa.jemalloc_set_decay_ms(1000)
    except NotImplementedError:  # a pyarrow built without jemalloc
        pa.set_memory_pool(pa.system_memory_pool())

__all__ = ["DeltaLake", "root_problem", "s3_options"]
