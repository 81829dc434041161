"""Source and target connections, flows (with enable/disable actions) and runs (on demand, re-trigger,
row errors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import Response

from flowservice.api.deps import BodyDep, CallerDep, ContainerDep
from flowservice.api.errors import error_responses
from flowservice.api.http import MAX_OFFSET, Json, body_schema, if_match, int_param, route
from flowservice.api.payloads import JsonObject
from flowservice.api.routes.crud import Collection, add_crud
from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID, DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID

if TYPE_CHECKING:
    from flowservice.bootstrap import Container

MAX_ERRORS_PAGE = 1000  # row errors returned by one GET /runs/{id}/errors

SOURCE_CONNECTION_EXAMPLE = {
    "name": "Dynamics Source Connection",
    "baseConnectionId": "{BASE_CONNECTION_ID}",
    "data": {"format": "tabular"},
    "params": {"tableName": "account"},
    "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
}
TARGET_CONNECTION_EXAMPLE = {
    "name": "Accounts target",
    "data": {"format": "delta"},
    "params": {"dataSetId": "{DATASET_ID}", "writeMode": "merge"},
    "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
}
FLOW_EXAMPLE = {
    "name": "Accounts",
    "flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID, "version": "1.0"},
    "sourceConnectionIds": ["{SOURCE_CONNECTION_ID}"],
    "targetConnectionIds": ["{TARGET_CONNECTION_ID}"],
    "transformations": [
        {"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}},
        {"name": "Mapping", "params": {"mappingId": "{MAPPING_ID}", "mappingVersion": 0}},
    ],
    "scheduleParams": {"startTime": "1612310466", "frequency": "minute", "interval": "15"},
}


def flow_action(flow_id: str, request: Request, services: ContainerDep, caller: CallerDep) -> JsonObject:
    stored = services.flows.action(caller.tenant, caller.principal, flow_id, request.query_params.get("op"))
    return {"id": stored.id, "etag": stored.etag}


async def list_runs(request: Request, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return services.runs.list(caller.tenant, list(request.query_params.multi_items()))


async def get_run(run_id: str, services: ContainerDep, caller: CallerDep) -> JsonObject:
    return {"items": [services.runs.get(caller.tenant, run_id).doc]}


def create_run(body: BodyDep, services: ContainerDep, caller: CallerDep) -> Response:
    stored = services.runs.create(caller.tenant, caller.principal, body)
    ident = {"id": stored.id, "etag": stored.etag}
    return Json({**ident, "items": [ident]}, status_code=201)  # satisfies every documented reader


def run_action(run_id: str, request: Request, services: ContainerDep, caller: CallerDep) -> JsonObject:
    stored = services.runs.retrigger(caller.tenant, caller.principal, run_id, request.query_params.get("op"))
    return {"id": stored.id, "etag": stored.etag}


def update_run(run_id: str, request: Request, body: BodyDep, services: ContainerDep, caller: CallerDep) -> JsonObject:
    stored = services.runs.update(caller.tenant, caller.principal, run_id, body, if_match(request))
    return {"id": stored.id, "etag": stored.etag}


async def run_errors(run_id: str, request: Request, services: ContainerDep, caller: CallerDep) -> JsonObject:
    start = int_param(request, "start", 0, 0, MAX_OFFSET)
    limit = int_param(request, "limit", 100, 1, MAX_ERRORS_PAGE)
    return services.runs.errors(caller.tenant, run_id, start, limit)


def router(container: Container) -> tuple[APIRouter, list[Collection]]:
    """The routes of source and target connections, flows and runs, and the collections the lane serves."""
    router = APIRouter(prefix="/data/foundation/flowservice", tags=["flows"], responses=error_responses())
    served = [
        add_crud(
            router, "sourceConnections", container.source_connections, "source connection", SOURCE_CONNECTION_EXAMPLE
        ),
        add_crud(
            router, "targetConnections", container.target_connections, "target connection", TARGET_CONNECTION_EXAMPLE
        ),
        add_crud(router, "flows", container.flows, "flow", FLOW_EXAMPLE, view=container.flows.view, actions=False),
    ]
    route(router, "POST", "/flows/{flow_id}/action", summary="Enable or disable a flow (op=enable|disable)")(
        flow_action
    )
    route(router, "GET", "/runs", summary="List runs (e.g. property=flowId==...)")(list_runs)
    route(router, "GET", "/runs/{run_id}", summary="Get a run with its metrics and activities")(get_run)
    route(
        router,
        "POST",
        "/runs",
        status_code=201,
        summary="Create an on-demand run of a flow",
        responses=error_responses(400, 401, 403, 404, 415, 429),
        openapi_extra=body_schema({"flowId": "{FLOW_ID}", "params": {"deltaColumn": {"name": "modifiedon"}}}),
    )(create_run)
    route(router, "POST", "/runs/{run_id}/action", summary="Re-trigger a failed run (op=re-trigger)")(run_action)
    route(router, "GET", "/runs/{run_id}/errors", summary="Row errors of a run (start, limit)")(run_errors)
    route(
        router,
        "PUT",
        "/runs/{run_id}",
        summary="Update a run's name or description under If-Match (updateRun)",
        responses=error_responses(400, 401, 403, 404, 412, 413, 415),
        openapi_extra=body_schema({"name": "Backfill of March", "description": "re-run after the schema fix"}),
    )(update_run)
    return router, served
