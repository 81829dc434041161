"""The five routes every Flow Service resource has (create, list, get, patch, delete), registered once per
collection so their envelope, headers and errors cannot drift apart. Writes stay sync (in the threadpool):
they may wait on the database's write lock, which must never stall the event loop.

``add_crud`` returns the ``Collection`` it registered: ``create_app`` gathers them into the table the lane
(``api/lane.py``) serves reads and creates from, with the very functions below (``read_one``, ``create_one``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from fastapi import APIRouter, Request
from starlette.responses import Response

from flowservice.api.deps import BodyDep, CallerDep
from flowservice.api.errors import error_responses
from flowservice.api.http import Json, body_schema, if_match, query_pairs, route
from flowservice.api.payloads import JsonObject
from flowservice.domain.tenancy import Caller, Principal, Tenant
from flowservice.ports import Stored
from flowservice.services.drafts import draft_mode


class CrudService(Protocol):
    """What a resource service offers the five routes (``services/resources.ResourceService`` and its kinds)."""

    def get(self, tenant: Tenant, id: str, /) -> Stored: ...

    def create(self, tenant: Tenant, principal: Principal, body: object, /) -> Stored: ...

    def create_draft(self, tenant: Tenant, principal: Principal, body: object, /) -> Stored: ...

    def action(self, tenant: Tenant, principal: Principal, id: str, op: str | None, /) -> Stored: ...

    def list(self, tenant: Tenant, params: Iterable[tuple[str, str]], /) -> JsonObject: ...

    def update(
        self, tenant: Tenant, principal: Principal, id: str, operations: object, if_match: str | None, /
    ) -> Stored: ...

    def delete(self, tenant: Tenant, id: str, /) -> None: ...


View = Callable[[Tenant, JsonObject], JsonObject]


def mode_parameter(collection: str) -> JsonObject:
    """The ``mode`` query parameter of a create, in OpenAPI."""
    return {
        "name": "mode",
        "in": "query",
        "required": False,
        "description": f"draft: store an incomplete resource (state 'draft', checked for types only), published "
        f"later with POST /{collection}/{{id}}/action?op=publish",
        "schema": {"type": "string", "enum": ["draft"]},
    }


@dataclass(frozen=True, slots=True)
class Collection:
    """A CRUD collection of one app: its path, its service, the ``view`` that derives what a read shows (none:
    the stored document), and whether creating one touches only the metadata database (then the lane serves
    the create: on the loop when the write need not wait for a lock, else in a writer thread)."""

    path: str
    service: CrudService
    view: View | None
    local_writes: bool


def read_one(collection: Collection, tenant: Tenant, resource_id: str) -> JsonObject:
    """``GET /{collection}/{id}``'s body: the stored document, or its view."""
    doc = collection.service.get(tenant, resource_id).doc
    return {"items": [collection.view(tenant, doc) if collection.view else doc]}


def create_one(collection: Collection, caller: Caller, body: object, path: str, *, draft: bool = False) -> Response:
    """``POST /{collection}``'s answer; ``draft``: ``mode=draft`` (``services/drafts.py``)."""
    service = collection.service
    stored = (service.create_draft if draft else service.create)(caller.tenant, caller.principal, body)
    return Json(
        {"id": stored.id, "etag": stored.etag}, status_code=201, headers={"Location": f"{path.rstrip('/')}/{stored.id}"}
    )


def add_crud(
    router: APIRouter,
    collection: str,
    service: CrudService,
    noun: str,
    example: object,
    *,
    view: View | None = None,
    local_writes: bool = False,
    actions: bool = True,
) -> Collection:
    """Register ``/{collection}`` routes backed by ``service``. ``local_writes``: creating this resource touches
    only the metadata database (no source calls), so the lane serves its create. ``actions``: with
    ``POST /{collection}/{id}/action?op=publish`` (flows have their own action route, with enable and
    disable). Every write runs in a worker thread: it may wait on the database's write lock."""
    served = Collection(router.prefix + f"/{collection}", service, view, local_writes)

    def create(request: Request, body: BodyDep, caller: CallerDep) -> Response:
        draft = draft_mode(request.query_params.getlist("mode"))
        return create_one(served, caller, body, request.url.path, draft=draft)

    # a list decodes up to a page of documents (a count, every matching one): in a worker thread, off the loop
    def list_all(request: Request, caller: CallerDep) -> Response:
        return Json(service.list(caller.tenant, query_pairs(request)))

    # reading one resource is an indexed lookup: cheaper than the thread hop a sync route would add
    async def get_one(resource_id: str, caller: CallerDep) -> Response:
        return Json(read_one(served, caller.tenant, resource_id))

    def patch(resource_id: str, request: Request, body: BodyDep, caller: CallerDep) -> JsonObject:
        stored = service.update(caller.tenant, caller.principal, resource_id, body, if_match(request))
        return {"id": stored.id, "etag": stored.etag}

    def delete(resource_id: str, caller: CallerDep) -> Response:
        service.delete(caller.tenant, resource_id)
        return Response(status_code=204)

    def action(resource_id: str, request: Request, caller: CallerDep) -> JsonObject:
        stored = service.action(caller.tenant, caller.principal, resource_id, request.query_params.get("op"))
        return {"id": stored.id, "etag": stored.etag}

    base = f"/{collection}"
    one = f"/{collection}/{{resource_id}}"
    route(
        router,
        "POST",
        base,
        status_code=201,
        summary=f"Create a {noun} (mode=draft: a draft, published later with op=publish)",
        openapi_extra={**body_schema(example), "parameters": [mode_parameter(collection)]},
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
    if actions:
        route(
            router,
            "POST",
            f"{one}/action",
            summary=f"Publish a draft {noun} (op=publish)",
            responses=error_responses(400, 401, 403, 404, 412),
            operation_id=f"action_{collection}",
        )(action)
    return served
