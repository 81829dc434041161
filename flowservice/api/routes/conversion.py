"""Data Prep mapping sets (``/data/foundation/conversion/mappingSets``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from flowservice.api.deps import BodyDep, CallerDep, ContainerDep
from flowservice.api.errors import error_responses
from flowservice.api.http import body_schema, route
from flowservice.api.payloads import JsonObject
from flowservice.domain.errors import InvalidRequest

router = APIRouter(prefix="/data/foundation/conversion", tags=["mapping"], responses=error_responses())

EXAMPLE = {
    "outputSchema": {
        "schemaRef": {
            "id": "https://ns.adobe.com/{TENANT_ID}/schemas/accounts",
            "contentType": "application/vnd.adobe.xed-full+json;version=1",
        }
    },
    "mappings": [
        {"sourceType": "ATTRIBUTE", "source": "accountid", "destination": "accountId"},
        {"sourceType": "EXPRESSION", "source": "lower(name)", "destination": "name"},
        {"sourceType": "STATIC", "source": "dynamics", "destination": "origin"},
    ],
}


@route(
    router,
    "POST",
    "/mappingSets",
    summary="Create a mapping set (old or new form)",
    responses=error_responses(400, 401, 403, 415),
    openapi_extra=body_schema(EXAMPLE),
)
def create_mapping_set(body: BodyDep, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.mapping_sets.create(caller.tenant, caller.principal, body)


VALIDATE_EXAMPLE = {
    **EXAMPLE,
    "sourceSchema": {
        "columns": [
            {"name": "accountid", "type": "string", "meta": {"primaryKey": True}},
            {"name": "name", "type": "string"},
        ]
    },
}
PREVIEW_EXAMPLE = {
    "mappingSet": EXAMPLE,
    "sourceSchema": VALIDATE_EXAMPLE["sourceSchema"],
    "data": [{"accountid": "6f1c…", "name": "  Contoso  "}],
}


@route(
    router,
    "POST",
    "/mappingSets/validate",
    summary="Validate a mapping set (optionally against the source's columns) without storing it",
    responses=error_responses(400, 401, 403, 415),
    openapi_extra=body_schema(VALIDATE_EXAMPLE),
)
def validate_mapping_set(body: BodyDep, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.mapping_sets.validate(caller.tenant, body)


@route(
    router,
    "POST",
    "/mappingSets/preview",
    summary="Map up to 100 sample rows as a run would, without storing anything",
    responses=error_responses(400, 401, 403, 415),
    openapi_extra=body_schema(PREVIEW_EXAMPLE),
)
def preview_mapping_set(body: BodyDep, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.mapping_sets.preview(caller.tenant, body)


@route(router, "GET", "/mappingSets", summary="List mapping sets (start, limit)")
async def list_mapping_sets(request: Request, services: ContainerDep, caller: CallerDep) -> JsonObject:
    try:
        start = int(request.query_params.get("start", 0))
        limit = int(request.query_params.get("limit", 100))
    except ValueError:
        raise InvalidRequest("'start' and 'limit' must be integers.") from None
    return services.mapping_sets.list(caller.tenant, max(start, 0), min(max(limit, 1), 1000))


@route(router, "GET", "/mappingSets/{mapping_id}", summary="Get a mapping set: its latest version, or ?version=N")
async def get_mapping_set(mapping_id: str, request: Request, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.mapping_sets.get(caller.tenant, mapping_id, request.query_params.get("version"))


@route(
    router,
    "PUT",
    "/mappingSets/{mapping_id}",
    summary="Update a mapping set: a new version (older versions stay readable)",
    responses=error_responses(400, 401, 403, 404, 415),
    openapi_extra=body_schema(EXAMPLE),
)
def put_mapping_set(mapping_id: str, body: BodyDep, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.mapping_sets.replace(caller.tenant, caller.principal, mapping_id, body)


@route(router, "DELETE", "/mappingSets/{mapping_id}", status_code=204, summary="Delete an unused mapping set")
def delete_mapping_set(mapping_id: str, services: ContainerDep, caller: CallerDep) -> Response:
    services.mapping_sets.delete(caller.tenant, mapping_id)
    return Response(status_code=204)
