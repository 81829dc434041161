"""Base connections: ``/connections`` with create, get, list, patch, delete, test and explore."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from flowservice.api.errors import error_responses
from flowservice.api.http import Body, Caller, Json, body_schema, identity_headers, if_match, query_pairs, route

router = APIRouter(prefix="/data/foundation/flowservice", tags=["connections"],
                   dependencies=[Depends(identity_headers)], responses=error_responses())

SEED_EXAMPLE = {
    "name": "Dynamics Connection",
    "description": "connection for Dynamics account",
    "auth": {
        "specName": "Basic Authentication for Dynamics-Online",
        "params": {"serviceUri": "{SERVICE_URI}", "username": "{USERNAME}", "password": "{PASSWORD}"},
    },
    "connectionSpec": {"id": "38ad80fe-8b06-4938-94f4-d4ee80266b07", "version": "1.0"},
}


def _service(request: Request) -> Any:
    return request.app.state.container.connections


@route(router, "POST", "/connections", status_code=201, summary="Create a base connection",
       responses=error_responses(400, 401, 403, 404, 413, 415), openapi_extra=body_schema(SEED_EXAMPLE))
def create_connection(request: Request, body: Any = Body, who: Any = Caller) -> Any:
    principal, tenant = who
    stored = _service(request).create(tenant, principal, body)
    return Json({"id": stored.id, "etag": stored.etag}, status_code=201)


@route(router, "GET", "/connections", summary="List base connections (property, orderby, limit, count)")
def list_connections(request: Request, who: Any = Caller) -> Any:
    return _service(request).list(who[1], query_pairs(request))


@route(router, "GET", "/connections/{connection_id}", summary="Get a base connection (secrets masked)")
def get_connection(connection_id: str, request: Request, who: Any = Caller) -> Any:
    return {"items": [_service(request).get(who[1], connection_id).doc]}


@route(router, "PATCH", "/connections/{connection_id}", summary="Update with JSON Patch under If-Match",
       responses=error_responses(400, 401, 403, 404, 412, 415),
       openapi_extra=body_schema([{"op": "replace", "path": "/name", "value": "New name"}]))
def patch_connection(connection_id: str, request: Request, body: Any = Body, who: Any = Caller) -> Any:
    principal, tenant = who
    stored = _service(request).update(tenant, principal, connection_id, body, if_match(request))
    return {"id": stored.id, "etag": stored.etag}


@route(router, "DELETE", "/connections/{connection_id}", status_code=204, summary="Delete a base connection")
def delete_connection(connection_id: str, request: Request, who: Any = Caller) -> Response:
    _service(request).delete(who[1], connection_id)
    return Response(status_code=204)


@route(router, "GET", "/connections/{connection_id}/test", summary="Test the connection's credentials",
       responses=error_responses(400, 401, 403, 404, 502, 503))
def test_connection(connection_id: str, request: Request, who: Any = Caller) -> Any:
    return _service(request).test(who[1], connection_id)


@route(router, "GET", "/connections/{connection_id}/explore",
       summary="Explore tables (objectType=root) or a table's columns and rows (objectType=table)",
       responses=error_responses(400, 401, 403, 404, 502, 503))
def explore_connection(connection_id: str, request: Request, who: Any = Caller) -> Any:
    return _service(request).explore(who[1], connection_id, dict(request.query_params))
