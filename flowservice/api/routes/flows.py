"""Source and target connections, flows (with enable/disable actions) and runs (on demand, re-trigger,
row errors)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from flowservice.api.errors import error_responses
from flowservice.api.http import MAX_OFFSET, Body, Caller, Json, authenticate, body_schema, int_param, route
from flowservice.api.routes.crud import add_crud
from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID, DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID

MAX_ERRORS_PAGE = 1000  # row errors returned by one GET /runs/{id}/errors

router = APIRouter(prefix="/data/foundation/flowservice", tags=["flows"], responses=error_responses())

add_crud(
    router,
    "sourceConnections",
    "source_connections",
    "source connection",
    {
        "name": "Dynamics Source Connection",
        "baseConnectionId": "{BASE_CONNECTION_ID}",
        "data": {"format": "tabular"},
        "params": {"tableName": "account"},
        "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
    },
)
add_crud(
    router,
    "targetConnections",
    "target_connections",
    "target connection",
    {
        "name": "Accounts target",
        "data": {"format": "delta"},
        "params": {"dataSetId": "{DATASET_ID}", "writeMode": "merge"},
        "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
    },
)
add_crud(
    router,
    "flows",
    "flows",
    "flow",
    {
        "name": "Accounts",
        "flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID, "version": "1.0"},
        "sourceConnectionIds": ["{SOURCE_CONNECTION_ID}"],
        "targetConnectionIds": ["{TARGET_CONNECTION_ID}"],
        "transformations": [
            {"name": "Copy", "params": {"deltaColumn": {"name": "modifiedon"}}},
            {"name": "Mapping", "params": {"mappingId": "{MAPPING_ID}", "mappingVersion": 0}},
        ],
        "scheduleParams": {"startTime": "1612310466", "frequency": "minute", "interval": "15"},
    },
)


@route(router, "POST", "/flows/{flow_id}/action", summary="Enable or disable a flow (op=enable|disable)")
def flow_action(flow_id: str, request: Request, who: Any = Caller) -> Any:
    stored = request.app.state.container.flows.action(who[1], who[0], flow_id, request.query_params.get("op"))
    return {"id": stored.id, "etag": stored.etag}


@route(router, "GET", "/runs", summary="List runs (e.g. property=flowId==...)")
async def list_runs(request: Request) -> Any:
    who = authenticate(request)
    return request.app.state.container.runs.list(who[1], list(request.query_params.multi_items()))


@route(router, "GET", "/runs/{run_id}", summary="Get a run with its metrics and activities")
async def get_run(run_id: str, request: Request) -> Any:
    who = authenticate(request)
    return {"items": [request.app.state.container.runs.get(who[1], run_id).doc]}


@route(
    router,
    "POST",
    "/runs",
    status_code=201,
    summary="Create an on-demand run of a flow",
    responses=error_responses(400, 401, 403, 404, 415),
    openapi_extra=body_schema({"flowId": "{FLOW_ID}", "params": {"deltaColumn": {"name": "modifiedon"}}}),
)
def create_run(request: Request, body: Any = Body, who: Any = Caller) -> Any:
    stored = request.app.state.container.runs.create(who[1], who[0], body)
    ident = {"id": stored.id, "etag": stored.etag}
    return Json({**ident, "items": [ident]}, status_code=201)  # satisfies every documented reader


@route(router, "POST", "/runs/{run_id}/action", summary="Re-trigger a failed run (op=re-trigger)")
def run_action(run_id: str, request: Request, who: Any = Caller) -> Any:
    stored = request.app.state.container.runs.retrigger(who[1], who[0], run_id, request.query_params.get("op"))
    return {"id": stored.id, "etag": stored.etag}


@route(router, "GET", "/runs/{run_id}/errors", summary="Row errors of a run (start, limit)")
async def run_errors(run_id: str, request: Request) -> Any:
    who = authenticate(request)
    start = int_param(request, "start", 0, 0, MAX_OFFSET)
    limit = int_param(request, "limit", 100, 1, MAX_ERRORS_PAGE)
    return request.app.state.container.runs.errors(who[1], run_id, start, limit)
