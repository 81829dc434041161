"""Base connections: ``/connections`` (create, get, list, patch, delete), plus test and explore."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from flowservice.api.errors import error_responses
from flowservice.api.http import Caller, route
from flowservice.api.routes.crud import add_crud
from flowservice.domain.catalogue import DYNAMICS_SPEC_ID

router = APIRouter(prefix="/data/foundation/flowservice", tags=["connections"], responses=error_responses())

SEED_EXAMPLE = {
    "name": "Dynamics Connection",
    "description": "connection for Dynamics account",
    "auth": {
        "specName": "Basic Authentication for Dynamics-Online",
        "params": {"serviceUri": "{SERVICE_URI}", "username": "{USERNAME}", "password": "{PASSWORD}"},
    },
    "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
}

add_crud(router, "connections", "connections", "base connection", SEED_EXAMPLE, local_writes=True)


@route(
    router,
    "GET",
    "/connections/{connection_id}/test",
    summary="Test the connection's credentials",
    responses=error_responses(400, 401, 403, 404, 429, 502, 503),
)
async def test_connection(connection_id: str, request: Request, who: Any = Caller) -> Any:  # noqa: PT028 (a route, not a test)
    """On the pool of source calls, not the shared one: a slow source cannot stall other routes."""
    service = request.app.state.container.connections
    return await service.calls.run(
        who[1],
        f"The test of connection {connection_id}",
        service.test,
        who[1],
        connection_id,
        disconnected=request.is_disconnected,
    )


@route(
    router,
    "GET",
    "/connections/{connection_id}/explore",
    summary="Explore tables (objectType=root) or a table's columns and rows (objectType=table)",
    responses=error_responses(400, 401, 403, 404, 429, 502, 503),
)
async def explore_connection(connection_id: str, request: Request, who: Any = Caller) -> Any:
    service = request.app.state.container.connections
    return await service.calls.run(
        who[1],
        f"The exploration of connection {connection_id}",
        service.explore,
        who[1],
        connection_id,
        dict(request.query_params),
        disconnected=request.is_disconnected,
    )
