"""Connection specs and flow specs: organisation-agnostic catalogues, still behind authentication. Their configs
and explore request (``services/specs.py`` says what they mean here); custom specs are refused."""

from __future__ import annotations

from fastapi import APIRouter, Request

from flowservice.api.deps import CallerDep, ContainerDep
from flowservice.api.errors import error_responses
from flowservice.api.http import body_schema, query_pairs, route
from flowservice.api.payloads import JsonObject
from flowservice.domain import listing
from flowservice.domain.errors import InvalidRequest, NotFound
from flowservice.services import specs

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


@route(
    router,
    "GET",
    "/connectionSpecs/{spec_id}/configs",
    summary="The parameters a connection of the spec is configured with ({items: [{columnName, columnType}]})",
    responses=error_responses(401, 403, 404),
)
async def connection_spec_configs(spec_id: str, services: ContainerDep, _caller: CallerDep) -> JsonObject:
    return {"items": specs.configs(specs.find_connection_spec(services.specs, spec_id))}


@route(
    router,
    "GET",
    "/connectionSpecs/{spec_id}/explore",
    summary="What exploring a connection of the spec takes, for a spec with an exploreSpec",
    responses=error_responses(400, 401, 403, 404),
)
async def explore_connection_spec(
    spec_id: str, request: Request, services: ContainerDep, _caller: CallerDep
) -> JsonObject:
    spec = specs.find_connection_spec(services.specs, spec_id)
    return {"items": specs.explore_request(spec, request.query_params.keys())}


# custom specs: refused for every caller (services/specs.custom_spec_refused says why), after authentication
CUSTOM_SPEC_ERRORS = error_responses(400, 401, 403)


@route(
    router,
    "POST",
    "/connectionSpecs",
    summary="Create a connection spec: refused, this server runs only the specs it ships (FLOW-1426-400)",
    responses=CUSTOM_SPEC_ERRORS,
    openapi_extra=body_schema({"name": "my-crm", "providerId": "{PROVIDER_ID}", "version": "1.0", "authSpec": []}),
)
async def create_connection_spec(_caller: CallerDep) -> JsonObject:
    raise specs.custom_spec_refused("connection")


@route(
    router,
    "PUT",
    "/connectionSpecs/{spec_id}",
    summary="Update a connection spec: refused, this server runs only the specs it ships (FLOW-1426-400)",
    responses=CUSTOM_SPEC_ERRORS,
    openapi_extra=body_schema({"name": "my-crm", "providerId": "{PROVIDER_ID}", "version": "1.0", "authSpec": []}),
)
async def update_connection_spec(spec_id: str, _caller: CallerDep) -> JsonObject:
    raise specs.custom_spec_refused("connection")


@route(
    router,
    "POST",
    "/flowSpecs",
    summary="Create a flow spec: refused, this server runs only the specs it ships (FLOW-1426-400)",
    responses=CUSTOM_SPEC_ERRORS,
    openapi_extra=body_schema({"name": "MyCrmToAEP", "providerId": "{PROVIDER_ID}", "version": "1.0"}),
)
async def create_flow_spec(_caller: CallerDep) -> JsonObject:
    raise specs.custom_spec_refused("flow")


@route(
    router,
    "PUT",
    "/flowSpecs/{spec_id}",
    summary="Update a flow spec: refused, this server runs only the specs it ships (FLOW-1426-400)",
    responses=CUSTOM_SPEC_ERRORS,
    openapi_extra=body_schema({"name": "CRMToAEP", "providerId": "{PROVIDER_ID}", "version": "1.0"}),
)
async def update_flow_spec(spec_id: str, _caller: CallerDep) -> JsonObject:
    raise specs.custom_spec_refused("flow")
