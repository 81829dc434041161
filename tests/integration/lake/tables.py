"""Small tables and a ``commit`` shorthand shared by the lake tests."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from flowservice.lake import DeltaLake
from flowservice.ports import CommitResult, WriteMode

TABLE = "org1/prod/datasets/ds-1"


def accounts(*rows: tuple[str, str | None, int | None]) -> pa.Table:
    """Rows of (accountid, name, employees), typed like a source page."""
    return pa.table(
        {
            "accountid": pa.array([r[0] for r in rows], pa.string()),
            "name": pa.array([r[1] for r in rows], pa.string()),
            "employees": pa.array([r[2] for r in rows], pa.int64()),
        }
    )


def commit(
    lake: DeltaLake,
    data: pa.Table,
    txn: int,
    *,
    mode: WriteMode = "merge",
    deleted: list[str] | None = None,
    cursor: dict[str, Any] | None = None,
    app_id: str = "flow-1",
    table: str = TABLE,
    change_time: int | None = None,
) -> CommitResult:
    return lake.commit(
        table,
        data,
        mode=mode,
        primary_key="accountid",
        deleted_keys=deleted or [],
        app_id=app_id,
        txn_version=txn,
        cursor=cursor if cursor is not None else {"page": txn},
        change_time=change_time,
    )


def by_key(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {row["accountid"]: row for row in table.to_pylist()}
