"""Data Access (``/data/foundation/export``): the preview of a dataset's landed rows, in Adobe's shape."""

from __future__ import annotations

from fastapi import APIRouter, Request

from flowservice.api.deps import CallerDep, ContainerDep
from flowservice.api.errors import error_responses
from flowservice.api.http import int_param, route
from flowservice.api.payloads import JsonObject
from flowservice.services.export import MAX_ROWS

router = APIRouter(prefix="/data/foundation/export", tags=["data access"], responses=error_responses())

LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS, "default": MAX_ROWS},
    "description": f"Rows to return, 1 to {MAX_ROWS} (an addition: Adobe's preview always answers its first 100)",
}
EXAMPLE = {
    "data": [{"accountid": "6f1c…", "name": "Contoso", "revenue": "1200.5000"}],
    "columns": [{"name": "accountid", "type": "string"}],
    "_page": {"limit": 100, "count": 1, "truncated": False},
}


# sync: it reads the Delta table
@route(
    router,
    "GET",
    "/datasets/{dataset_id}/preview",
    summary="Preview the first rows of a dataset (its Delta table's current version)",
    responses=error_responses(400, 401, 403, 404),
    openapi_extra={
        "parameters": [LIMIT],
        "responses": {"200": {"content": {"application/json": {"example": EXAMPLE}}}},
    },
)
def preview_dataset(dataset_id: str, request: Request, services: ContainerDep, caller: CallerDep) -> JsonObject:
    limit = int_param(request, "limit", MAX_ROWS, 1, MAX_ROWS)
    return services.data_access.preview(caller.tenant, dataset_id, limit)
