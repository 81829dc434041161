"""The five routes every Flow Service resource has (create, list, get, patch, delete), registered once per
collection so their envelope, headers and errors cannot drift apart. Writes stay sync (in the threadpool):
they may wait on the database's write lock, which must never stall the event loop."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from flowservice.api.errors import error_responses
from flowservice.api.http import Body, Caller, Json, authenticate, body_schema, if_match, query_pairs, route
from flowservice.api.lane import Collection, create_one, read_one, register


def add_crud(
    router: APIRouter, collection: str, service: str, noun: str, example: Any, *, local_writes: bool = False
) -> None:
    """Register ``/{collection}`` routes backed by ``container.<service>``. ``local_writes``: creating this
    resource touches only the metadata database (no source calls), so the lane serves its create. Every
    write runs in a worker thread: it may wait on the database's write lock."""

    def svc(request: Request) -> Any:
        return getattr(request.app.state.container, service)

    def create(request: Request, body: Any = Body, who: Any = Caller) -> Any:
        return create_one(svc(request), who, body, request.url.path)

    # a list decodes up to a page of documents (a count, every matching one): in a worker thread, off the loop
    def list_all(request: Request) -> Any:
        who = authenticate(request)
        return Json(svc(request).list(who[1], query_pairs(request)))

    # reading one resource is an indexed lookup: cheaper than the thread hop a sync route would add
    async def get_one(resource_id: str, request: Request) -> Any:
        return Json(read_one(svc(request), authenticate(request)[1], resource_id))

    def patch(resource_id: str, request: Request, body: Any = Body, who: Any = Caller) -> Any:
        stored = svc(request).update(who[1], who[0], resource_id, body, if_match(request))
        return {"id": stored.id, "etag": stored.etag}

    def delete(resource_id: str, request: Request, who: Any = Caller) -> Response:
        svc(request).delete(who[1], resource_id)
        return Response(status_code=204)

    base = f"/{collection}"
    register(Collection(router.prefix + base, service, local_writes))  # the lane serves get and create first
    one = f"/{collection}/{{resource_id}}"
    route(
        router,
        "POST",
        base,
        status_code=201,
        summary=f"Create a {noun}",
        openapi_extra=body_schema(example),
        responses=error_responses(400, 401, 403, 404, 413, 415),
        operation_id=f"create_{collection}",
    )(create)
    route(
        router,
        "GET",
        base,
        summary=f"List {noun}s (property, orderby, limit, continuationToken, count)",
        operation_id=f"list_{collection}",
    )(list_all)
    route(router, "GET", one, summary=f"Get a {noun}", operation_id=f"get_{collection}")(get_one)
    route(
        router,
        "PATCH",
        one,
        summary=f"Update a {noun} with JSON Patch under If-Match",
        responses=error_responses(400, 401, 403, 404, 412, 415),
        openapi_extra=body_schema([{"op": "replace", "path": "/name", "value": "New name"}]),
        operation_id=f"patch_{collection}",
    )(patch)
    route(router, "DELETE", one, status_code=204, summary=f"Delete a {noun}", operation_id=f"delete_{collection}")(
        delete
    )
