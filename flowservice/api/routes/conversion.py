"""Data Prep mapping sets (``/data/foundation/conversion/mappingSets``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from flowservice.api.errors import error_responses
from flowservice.api.http import Body, Caller, authenticate, body_schema, route
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
def create_mapping_set(request: Request, body: Any = Body, who: Any = Caller) -> Any:
    return request.app.state.container.mapping_sets.create(who[1], who[0], body)


@route(router, "GET", "/mappingSets", summary="List mapping sets (start, limit)")
async def list_mapping_sets(request: Request) -> Any:
    who = authenticate(request)
    try:
        start = int(request.query_params.get("start", 0))
        limit = int(request.query_params.get("limit", 100))
    except ValueError:
        raise InvalidRequest("'start' and 'limit' must be integers.") from None
    return request.app.state.container.mapping_sets.list(who[1], max(start, 0), min(max(limit, 1), 1000))


@route(router, "GET", "/mappingSets/{mapping_id}", summary="Get a mapping set")
async def get_mapping_set(mapping_id: str, request: Request) -> Any:
    who = authenticate(request)
    return {**request.app.state.container.mapping_sets.get(who[1], mapping_id), "id": mapping_id}


@route(router, "DELETE", "/mappingSets/{mapping_id}", status_code=204, summary="Delete an unused mapping set")
def delete_mapping_set(mapping_id: str, request: Request, who: Any = Caller) -> Response:
    request.app.state.container.mapping_sets.delete(who[1], mapping_id)
    return Response(status_code=204)
