"""SQL over datasets with DuckDB, reading Delta tables through lazy Arrow datasets.

DuckDB's own delta extension is downloaded at run time, which an offline or locked-down server cannot do;
an Arrow dataset built by delta-rs needs nothing and still gets projection and filter pushdown, so only
the columns and files a query needs are read.

The connection is in-memory and loses file-system access before the query runs: the SQL can read the
named datasets and nothing else on the machine (no ``read_csv('/etc/passwd')``, no ``ATTACH``).

DuckDB is imported on the first query: workers, which never query, save its ~25 MB of resident library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pyarrow as pa

from flowservice.domain.errors import InvalidRequest

if TYPE_CHECKING:
    import pyarrow.dataset as pads


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
