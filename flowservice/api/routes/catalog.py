"""The Catalog subset (``/data/foundation/catalog``): datasets and batches, keyed by id as Catalog answers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from flowservice.api.deps import BodyDep, CallerDep, ContainerDep
from flowservice.api.errors import error_responses
from flowservice.api.http import Json, body_schema, route
from flowservice.api.payloads import JsonObject

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
def create_dataset(body: BodyDep, services: ContainerDep, caller: CallerDep) -> Response:
    id = services.catalog.create_dataset(caller.tenant, caller.principal, body)
    return Json([f"@/dataSets/{id}"], status_code=201)


@route(router, "GET", "/dataSets", summary="List datasets (name, start, limit)")
async def list_datasets(request: Request, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.catalog.list_datasets(caller.tenant, request.query_params.multi_items())


# sync: it reads the Delta log for statistics
@route(router, "GET", "/dataSets/{dataset_id}", summary="Get a dataset, with its Delta table's statistics")
def get_dataset(dataset_id: str, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.catalog.dataset_view(caller.tenant, dataset_id)


@route(router, "DELETE", "/dataSets/{dataset_id}", summary="Delete a dataset and its Delta table")
def delete_dataset(dataset_id: str, services: ContainerDep, caller: CallerDep) -> list[str]:
    return services.catalog.delete_dataset(caller.tenant, dataset_id)


@route(router, "GET", "/batches", summary="List batches (dataSet, status, orderBy, start, limit)")
async def list_batches(request: Request, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.catalog.list_batches(caller.tenant, request.query_params.multi_items())


@route(router, "GET", "/batches/{batch_id}", summary="Get a batch")
async def get_batch(batch_id: str, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.catalog.batch(caller.tenant, batch_id)
