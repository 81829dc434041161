"""Data Access: a preview of the rows a dataset's Delta table holds (Adobe's ``GET /export/datasets/{id}/preview``).

The rows are read the way ``flowservice query`` reads them (``Lake.query``: DuckDB over the table's current
version, only what the ``LIMIT`` needs), so the preview is exactly the first rows of
``SELECT * FROM <dataset> LIMIT n``. A merge dataset holds its current rows; an append dataset every version,
with its ``_change_type`` and ``_change_time`` columns. The answer is bounded twice: at most ``MAX_ROWS`` rows,
and rows stop once their JSON passes ``MAX_BYTES`` (long text columns make a few rows large).
"""

from __future__ import annotations

from typing import Any

import orjson

from flowservice.domain.tenancy import Tenant
from flowservice.ports import Lake
from flowservice.services.catalog import CatalogService
from flowservice.services.explore_format import arrow_to_json_rows

MAX_ROWS = 100
MAX_BYTES = 4 * 1024 * 1024
_VIEW = "preview_of_dataset"


class DataAccessService:
    def __init__(self, catalog: CatalogService, lake: Lake) -> None:
        self.catalog = catalog
        self.lake = lake

    def preview(self, tenant: Tenant, dataset_id: str, limit: int = MAX_ROWS) -> dict[str, Any]:
        """``{"data": [row, …]}`` as Adobe answers, plus ``columns`` (name and Delta type) and ``_page`` (how
        many rows, and whether the byte bound cut them short). A dataset of another sandbox is not found; one
        nothing has landed in yet answers no rows."""
        stored = self.catalog.dataset(tenant, dataset_id)
        path = stored.doc["lake"]["path"]
        stats = self.lake.stats(path)
        if not stats:
            return {"data": [], "columns": [], "_page": {"limit": limit, "count": 0, "truncated": False}}
        table = self.lake.query(f"SELECT * FROM {_VIEW} LIMIT {int(limit)}", {_VIEW: path})  # noqa: S608 - int
        rows, size, truncated = [], 0, False
        for row in arrow_to_json_rows(table):
            row = {k: _plain(v) for k, v in row.items()}
            size += len(orjson.dumps(row))
            if size > MAX_BYTES:
                truncated = True
                break
            rows.append(row)
        return {
            "data": rows,
            "columns": list(stats.get("columns") or []),
            "_page": {"limit": limit, "count": len(rows), "truncated": truncated},
        }


def _plain(value: Any) -> Any:
    """A nested value (struct, list) made plain JSON: orjson writes its dates, decimals and bytes as text, as
    ``arrow_to_json_rows`` writes top-level ones."""
    if isinstance(value, dict | list):
        return orjson.loads(orjson.dumps(value, default=_text, option=orjson.OPT_UTC_Z))
    return value


def _text(value: Any) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)
