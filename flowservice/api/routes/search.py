"""``POST /connections/search``, ``POST /flows/search`` and ``POST /flowSpecs/search``: the listings' queries as
filter bodies (``services/search.py`` says what each field means and where the bodies are documented).

Searches read like lists: in a worker thread (sync routes), off the event loop. The lane (``api/lane.py``)
serves ``POST /connections`` only, an exact path: ``POST /connections/search`` reaches these routes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from flowservice.api.deps import BodyDep, CallerDep, ContainerDep
from flowservice.api.errors import error_responses
from flowservice.api.http import body_schema, route
from flowservice.api.payloads import JsonObject
from flowservice.domain.catalogue import DYNAMICS_SPEC_ID
from flowservice.domain.errors import InvalidRequest
from flowservice.services import search, specs

router = APIRouter(prefix="/data/foundation/flowservice", tags=["search"], responses=error_responses())

CONTINUATION: JsonObject = {
    "name": "continuationToken",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "The token of the previous answer's _links.next, to read the next page of the same search",
}
ACTIVE_SANDBOXES: JsonObject = {
    "name": "x-active-sandbox-ids",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "Sandboxes of your organization to search, comma-separated (default: x-sandbox-name)",
}
ERRORS = error_responses(400, 401, 403, 404, 413, 415)


def _openapi(example: JsonObject, *parameters: JsonObject) -> JsonObject:
    return {**body_schema(example), "parameters": [CONTINUATION, *parameters]}


def _continuation(request: Request) -> str | None:
    """The one query parameter a search takes; its filters come in the body."""
    for key, _ in request.query_params.multi_items():
        if key != "continuationToken":
            raise InvalidRequest(
                f"Invalid params {key} provided in query params: a search takes only continuationToken; send its "
                "filters, orderby, limit and count in the body.",
                code="1451",
            )
    return request.query_params.get("continuationToken")


def _header(request: Request, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in request.headers.raw if key.lower() == name]


@route(
    router,
    "POST",
    "/connections/search",
    summary="Search base connections with a ConnectionFilterRequest (queryString, limit, orderby, count)",
    responses=ERRORS,
    openapi_extra=_openapi(
        {"queryString": f"property=connectionSpec.id=={DYNAMICS_SPEC_ID}&property=state==enabled", "limit": 10}
    ),
)
def search_connections(request: Request, body: BodyDep, services: ContainerDep, caller: CallerDep) -> JsonObject:
    query = search.parse(body, search.CONNECTION_FILTER, "ConnectionFilterRequest", _continuation(request))
    return search.run(services.connections, "connections", [caller.tenant], query)


@route(
    router,
    "POST",
    "/flows/search",
    summary="Search flows with a FlowFilterRequest, in the sandboxes of x-active-sandbox-ids",
    responses=ERRORS,
    openapi_extra=_openapi(
        {"queryString": "property=state==enabled", "orderby": "-createdAt", "projectionFields": "id,name,state"},
        ACTIVE_SANDBOXES,
    ),
)
def search_flows(request: Request, body: BodyDep, services: ContainerDep, caller: CallerDep) -> JsonObject:
    query = search.parse(body, search.FLOW_FILTER, "FlowFilterRequest", _continuation(request))
    scope = search.tenants(caller, _header(request, b"x-active-sandbox-ids"), services.identity)
    return search.run(services.flows, "flows", scope, query)


@route(
    router,
    "POST",
    "/flowSpecs/search",
    summary="Search flow specs with a FlowSpecFilterRequest (queryString, limit, orderby, count, projectionFields)",
    responses=ERRORS,
    openapi_extra=_openapi({"queryString": "property=name==CRMToAEP", "projectionFields": "id,name"}),
)
def search_flow_specs(request: Request, body: BodyDep, services: ContainerDep, _caller: CallerDep) -> JsonObject:
    query = search.parse(body, search.FLOW_SPEC_FILTER, "FlowSpecFilterRequest", _continuation(request))
    return search.shaped(specs.flow_specs(services.specs, query.params), "flowSpecs", query.projection)
