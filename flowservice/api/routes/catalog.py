"""The Catalog subset (``/data/foundation/catalog``): datasets and batches, keyed by id as Catalog answers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from flowservice.api.deps import BodyDep, CallerDep, ContainerDep
from flowservice.api.errors import error_responses
from flowservice.api.http import Json, body_schema, if_match, route
from flowservice.api.payloads import JsonObject
from flowservice.services.catalog import UpdateMode

router = APIRouter(prefix="/data/foundation/catalog", tags=["catalog"], responses=error_responses())

UPDATE_ERRORS = error_responses(400, 401, 403, 404, 412, 413, 415)
UPDATE_FIELDS_EXAMPLE = {"name": "Updated Dataset Name", "description": "Updated description for Sample Dataset"}
JSON_PATCH_EXAMPLE = [
    {"op": "add", "path": "/name", "value": "New Dataset Name"},
    {"op": "add", "path": "/tags/sampleTag", "value": ["123456"]},
]
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "Optional: the dataset's etag (or its updated stamp); a stale one gets 412",
}


def query(name: str, description: str, kind: str = "string") -> JsonObject:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": description}


PAGING = [
    query("start", "Offset of the first object (default 0)", "integer"),
    query("limit", "Objects per answer, 1 to 100 (default 20)", "integer"),
    query("orderBy", "e.g. desc:created, or name,desc:updated (ascending by default)"),
    query("properties", "Top-level properties to return, comma-separated, e.g. name,schemaRef"),
]


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


@route(
    router,
    "GET",
    "/dataSets",
    summary="List datasets (name, orderBy, start, limit, properties)",
    responses=error_responses(400, 401, 403),
    openapi_extra={"parameters": [query("name", "Name(s), comma-separated; ! first excludes them"), *PAGING]},
)
async def list_datasets(request: Request, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.catalog.list_datasets(caller.tenant, request.query_params.multi_items())


# sync: it reads the Delta log for statistics
@route(
    router,
    "GET",
    "/dataSets/{dataset_id}",
    summary="Get a dataset, with its Delta table's statistics",
    openapi_extra={"parameters": [PAGING[-1]]},
)
def get_dataset(dataset_id: str, request: Request, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.catalog.dataset_view(caller.tenant, dataset_id, request.query_params.multi_items())


def update_dataset(
    dataset_id: str, request: Request, body: object, services: ContainerDep, caller: CallerDep, mode: UpdateMode
) -> list[str]:
    return services.catalog.update_dataset(caller.tenant, caller.principal, dataset_id, body, mode, if_match(request))


@route(
    router,
    "PATCH",
    "/dataSets/{dataset_id}",
    summary="Update a dataset's name, description or tags: by fields (application/json) or JSON Patch "
    "(application/json-patch+json)",
    responses=UPDATE_ERRORS,
    openapi_extra={
        "parameters": [IF_MATCH],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}, "example": UPDATE_FIELDS_EXAMPLE},
                "application/json-patch+json": {"schema": {"type": "array"}, "example": JSON_PATCH_EXAMPLE},
            },
        },
    },
)
def patch_dataset(
    dataset_id: str, request: Request, body: BodyDep, services: ContainerDep, caller: CallerDep
) -> list[str]:
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    mode: UpdateMode = "json-patch" if content_type == "application/json-patch+json" else "fields"
    return update_dataset(dataset_id, request, body, services, caller, mode)


@route(
    router,
    "PUT",
    "/dataSets/{dataset_id}",
    summary="Replace a dataset's name, description and tags (those left out are emptied)",
    responses=UPDATE_ERRORS,
    openapi_extra={
        "parameters": [IF_MATCH],
        **body_schema({**UPDATE_FIELDS_EXAMPLE, "tags": {"sampleTag": ["123456"]}}),
    },
)
def put_dataset(
    dataset_id: str, request: Request, body: BodyDep, services: ContainerDep, caller: CallerDep
) -> list[str]:
    return update_dataset(dataset_id, request, body, services, caller, "replace")


@route(router, "DELETE", "/dataSets/{dataset_id}", summary="Delete a dataset and its Delta table")
def delete_dataset(dataset_id: str, services: ContainerDep, caller: CallerDep) -> list[str]:
    return services.catalog.delete_dataset(caller.tenant, dataset_id)


@route(
    router,
    "GET",
    "/batches",
    summary="List batches (dataSet, status, createdAfter, createdBefore, orderBy, start, limit, properties)",
    responses=error_responses(400, 401, 403),
    openapi_extra={
        "parameters": [
            query("dataSet", "Dataset id(s), comma-separated; ! first excludes them"),
            query("status", "Status(es), comma-separated, e.g. success,failed"),
            query("createdAfter", "Created after this epoch time in milliseconds (exclusive)", "integer"),
            query("createdBefore", "Created before this epoch time in milliseconds (exclusive)", "integer"),
            *PAGING,
        ]
    },
)
async def list_batches(request: Request, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.catalog.list_batches(caller.tenant, request.query_params.multi_items())


@route(router, "GET", "/batches/{batch_id}", summary="Get a batch")
async def get_batch(batch_id: str, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.catalog.batch(caller.tenant, batch_id)
