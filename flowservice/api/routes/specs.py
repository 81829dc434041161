"""Connection specs and flow specs: organisation-agnostic catalogues, still behind authentication."""

from __future__ import annotations

from fastapi import APIRouter, Request

from flowservice.api.deps import CallerDep, ContainerDep
from flowservice.api.errors import error_responses
from flowservice.api.http import query_pairs, route
from flowservice.api.payloads import JsonObject
from flowservice.domain import listing
from flowservice.domain.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/data/foundation/flowservice", tags=["specs"], responses=error_responses())


def _filtered(request: Request, docs: list[JsonObject]) -> JsonObject:
    filters = []
    for key, value in query_pairs(request):
        if key != "property":
            raise InvalidRequest(f"Invalid params {key} provided in query params.", code="1451")
        filters.append(listing.parse_filter(value))
    return {"items": [d for d in docs if all(f.matches(d) for f in filters)]}


# the specs are the same for every tenant: the caller is authenticated, and not needed further
@route(router, "GET", "/connectionSpecs", summary="List connection specs")
async def list_connection_specs(request: Request, services: ContainerDep, _caller: CallerDep) -> JsonObject:
    return _filtered(request, [s.doc for s in services.specs.connections.values()])


@route(router, "GET", "/connectionSpecs/{spec_id}", summary="Get one connection spec")
async def get_connection_spec(spec_id: str, services: ContainerDep, _caller: CallerDep) -> JsonObject:
    spec = services.specs.connections.get(spec_id)
    if spec is None:
        raise NotFound(
            f"The connection spec {spec_id} is not found.", resource_id=spec_id, resource_type="connectionSpecs"
        )
    return {"items": [spec.doc]}


@route(router, "GET", "/flowSpecs", summary="List flow specs")
async def list_flow_specs(request: Request, services: ContainerDep, _caller: CallerDep) -> JsonObject:
    return _filtered(request, list(services.specs.flows.values()))


@route(router, "GET", "/flowSpecs/{spec_id}", summary="Get one flow spec")
async def get_flow_spec(spec_id: str, services: ContainerDep, _caller: CallerDep) -> JsonObject:
    spec = services.specs.flows.get(spec_id)
    if spec is None:
        raise NotFound(f"The flow spec {spec_id} is not found.", resource_id=spec_id, resource_type="flowSpecs")
    return {"items": [spec]}
