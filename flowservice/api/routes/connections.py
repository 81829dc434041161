"""Base connections: ``/connections`` (create, get, list, patch, delete), plus test and explore."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request

from flowservice.api.deps import CallerDep, ContainerDep
from flowservice.api.errors import error_responses
from flowservice.api.http import route
from flowservice.api.payloads import JsonObject
from flowservice.api.routes.crud import Collection, add_crud
from flowservice.domain.catalogue import DYNAMICS_SPEC_ID
from flowservice.services import specs

if TYPE_CHECKING:
    from flowservice.bootstrap import Container

SEED_EXAMPLE = {
    "name": "Dynamics Connection",
    "description": "connection for Dynamics account",
    "auth": {
        "specName": "Basic Authentication for Dynamics-Online",
        "params": {"serviceUri": "{SERVICE_URI}", "username": "{USERNAME}", "password": "{PASSWORD}"},
    },
    "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
}


async def test_connection(
    connection_id: str, request: Request, services: ContainerDep, caller: CallerDep
) -> JsonObject:
    """On the pool of source calls, not the shared one: a slow source cannot stall other routes."""
    connections = services.connections
    return await connections.calls.run(
        caller.tenant,
        f"The test of connection {connection_id}",
        connections.test,
        caller.tenant,
        connection_id,
        disconnected=request.is_disconnected,
    )


async def explore_connection(
    connection_id: str, request: Request, services: ContainerDep, caller: CallerDep
) -> list[JsonObject] | JsonObject:
    connections = services.connections
    return await connections.calls.run(
        caller.tenant,
        f"The exploration of connection {connection_id}",
        connections.explore,
        caller.tenant,
        connection_id,
        dict(request.query_params),
        disconnected=request.is_disconnected,
    )


async def connection_configs(connection_id: str, services: ContainerDep, caller: CallerDep) -> JsonObject:
    """The configs of the connection's spec (``services/specs.configs``), once it is found in the caller's tenant."""
    connection = services.connections.get(caller.tenant, connection_id)
    spec = specs.find_connection_spec(services.specs, connection.doc["connectionSpec"]["id"])
    return {"items": specs.configs(spec)}


def router(container: Container) -> tuple[APIRouter, list[Collection]]:
    """The routes of base connections, and the collection among them that the lane serves."""
    router = APIRouter(prefix="/data/foundation/flowservice", tags=["connections"], responses=error_responses())
    served = add_crud(router, "connections", container.connections, "base connection", SEED_EXAMPLE, local_writes=True)
    route(
        router,
        "GET",
        "/connections/{connection_id}/test",
        summary="Test the connection's credentials",
        responses=error_responses(400, 401, 403, 404, 429, 502, 503),
    )(test_connection)
    route(
        router,
        "GET",
        "/connections/{connection_id}/explore",
        summary="Explore tables (objectType=root) or a table's columns and rows (objectType=table)",
        responses=error_responses(400, 401, 403, 404, 429, 502, 503),
    )(explore_connection)
    route(
        router,
        "GET",
        "/connections/{connection_id}/configs",
        summary="The parameters a connection of this one's spec takes ({items: [{columnName, columnType}]})",
        responses=error_responses(401, 403, 404),
    )(connection_configs)
    return router, [served]
