"""SQL over datasets with DuckDB, reading Delta tables through lazy Arrow datasets.

DuckDB's own delta extension is downloaded at run time, which an offline or locked-down server cannot do;
an Arrow dataset built by delta-rs needs nothing and still gets projection and filter pushdown, so only
the columns and files a query needs are read.

The connection is in-memory and loses file-system access before the query runs: the SQL can read the
named datasets and nothing else on the machine (no ``read_csv('/etc/passwd')``, no ``ATTACH``).

DuckDB is imported on the first query: workers, which never query, save its ~25 MB of resident library.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from flowservice.domain.errors import InvalidRequest

if TYPE_CHECKING:
    import pyarrow.dataset as pads

#: DuckDB's memory for the anti-join of a full resync; beyond it, DuckDB spills to disk
MISSING_KEYS_MEMORY = "256MB"


def run(sql: str, datasets: Mapping[str, pads.Dataset]) -> pa.Table:
    import duckdb

    connection = duckdb.connect(":memory:")
    try:
        for name, dataset in datasets.items():
            connection.register(name, dataset)
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
        relation = connection.sql(sql)
        return relation.to_arrow_table() if relation is not None else pa.table({})
    except duckdb.Error as exc:
        raise InvalidRequest(f"The query failed: {exc}") from exc
    finally:
        connection.close()


def missing_keys(
    dataset: pads.Dataset, key: str, seen: Sequence[str], chunk_rows: int, spill_dir: str
) -> Iterator[pa.RecordBatch]:
    """The values of ``key`` in ``dataset`` (as text) that no Arrow IPC file of ``seen`` holds in its column
    ``k``: an anti-join in DuckDB, streamed in batches of about ``chunk_rows``. DuckDB works within a
    memory limit and spills to ``spill_dir``, so memory does not grow with the table."""
    import duckdb
    import pyarrow.dataset as pads

    connection = duckdb.connect(":memory:")
    try:
        connection.register("t", dataset)
        connection.register("s", pads.dataset(list(seen), format="ipc", schema=pa.schema([("k", pa.string())])))
        connection.execute("SET temp_directory = ?", [spill_dir])
        connection.execute(f"SET memory_limit = '{MISSING_KEYS_MEMORY}'")
        connection.execute("SET preserve_insertion_order = false")
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
        quoted = '"' + key.replace('"', '""') + '"'
        reader = connection.sql(
            f"SELECT DISTINCT CAST(t.{quoted} AS VARCHAR) AS k FROM t "  # noqa: S608 - a quoted identifier
            f"WHERE t.{quoted} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM s WHERE s.k = CAST(t.{quoted} AS VARCHAR))"
        ).to_arrow_reader(max(1, chunk_rows))
        yield from reader
    except duckdb.Error as exc:
        raise InvalidRequest(f"Finding the keys a full read did not see failed: {exc}") from exc
    finally:
        connection.close()
