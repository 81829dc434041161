"""The lake: datasets as Delta Lake tables (delta-rs), queried with DuckDB.

``DeltaLake`` implements ``services.ports.Lake``; ``s3_options`` builds storage options for S3-compatible
object stores.
"""

from flowservice.lake.delta import DeltaLake
from flowservice.lake.storage import s3_options

__all__ = ["DeltaLake", "s3_options"]
