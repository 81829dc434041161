"""The FastAPI dependencies of every route, typed: the container, the authenticated caller and the JSON body.

All three are ``async``: a sync dependency would cost each request a thread hop (about 0.2 ms). FastAPI solves
a dependency once per request, so a route that takes both the body and the caller authenticates once, and
always before it reads the body.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from flowservice.api.http import identity_headers, read_json_body
from flowservice.bootstrap import Container  # the composition root's type: FastAPI resolves it at runtime
from flowservice.domain import log_context
from flowservice.domain.tenancy import Caller


async def container(request: Request) -> Container:
    """The services ``create_app`` was given."""
    return cast(Container, request.app.state.container)


ContainerDep = Annotated[Container, Depends(container)]


async def caller(request: Request, services: ContainerDep) -> Caller:
    """The caller of the four identity headers (``add_identity_headers`` documents them in OpenAPI)."""
    found = services.identity.authenticate(*identity_headers(request.headers.raw))
    log_context.set_tenant(found.tenant.org, found.tenant.sandbox)  # this request's log lines name its tenant
    return found


CallerDep = Annotated[Caller, Depends(caller)]


async def json_body(request: Request, services: ContainerDep, _caller: CallerDep) -> object:
    """The JSON body, read only once the caller is authenticated."""
    return await read_json_body(request.headers, request.stream(), services.settings.max_body_bytes)


BodyDep = Annotated[object, Depends(json_body)]
