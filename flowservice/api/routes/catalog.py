"""The Catalog subset (``/data/foundation/catalog``): datasets and batches, keyed by id as Catalog answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from flowservice.api.errors import error_responses
from flowservice.api.http import Body, Caller, Json, authenticate, body_schema, route

router = APIRouter(prefix="/data/foundation/catalog", tags=["catalog"], responses=error_responses())


@route(
    router,
    "POST",
    "/dataSets",
    status_code=201,
    summary="Create a dataset (a Delta table)",
    responses=error_responses(400, 401, 403, 404, 415),
    openapi_extra=body_schema({"name": "Dynamics accounts", "description": "accounts from Dynamics"}),
)
def create_dataset(request: Request, body: Any = Body, who: Any = Caller) -> Any:
    id = request.app.state.container.catalog.create_dataset(who[1], who[0], body)
    return Json([f"@/dataSets/{id}"], status_code=201)


@route(router, "GET", "/dataSets", summary="List datasets (name, start, limit)")
async def list_datasets(request: Request) -> Any:
    who = authenticate(request)
    return request.app.state.container.catalog.list_datasets(who[1], request.query_params.multi_items())


@route(router, "GET", "/dataSets/{dataset_id}", summary="Get a dataset, with its Delta table's statistics")
def get_dataset(dataset_id: str, request: Request) -> Any:  # sync: it reads the Delta log for statistics
    who = authenticate(request)
    return request.app.state.container.catalog.dataset_view(who[1], dataset_id)


@route(router, "DELETE", "/dataSets/{dataset_id}", summary="Delete a dataset and its Delta table")
def delete_dataset(dataset_id: str, request: Request, who: Any = Caller) -> Any:
    return request.app.state.container.catalog.delete_dataset(who[1], dataset_id)


@route(router, "GET", "/batches", summary="List batches (dataSet, status, orderBy, start, limit)")
async def list_batches(request: Request) -> Any:
    who = authenticate(request)
    return request.app.state.container.catalog.list_batches(who[1], request.query_params.multi_items())


@route(router, "GET", "/batches/{batch_id}", summary="Get a batch")
async def get_batch(batch_id: str, request: Request) -> Any:
    who = authenticate(request)
    return request.app.state.container.catalog.batch(who[1], batch_id)
