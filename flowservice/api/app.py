"""``create_app(container)``: the FastAPI application over already-wired services (tests pass their own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from flowservice import web
from flowservice.api import errors
from flowservice.api.http import RequestIdMiddleware, add_identity_headers
from flowservice.api.lane import Lane
from flowservice.api.payloads import JsonObject
from flowservice.api.routes import (
    catalog,
    connections,
    conversion,
    export,
    flows,
    ims,
    operations,
    sandboxes,
    search,
    specs,
    unsupported,
)
from flowservice.api.routes.crud import Collection

if TYPE_CHECKING:
    from flowservice.bootstrap import Container

DESCRIPTION = """A self-hostable server that speaks Adobe Experience Platform's Flow Service API
(connection specs, connections, explore, source and target connections, flow specs, flows, runs) and its
Catalog and Data Prep companions. Every call needs `Authorization: Bearer`, `x-api-key`, `x-gw-ims-org-id`
and `x-sandbox-name`; bodies need `Content-Type: application/json`. Errors use the Flow Service error body."""


def create_app(container: Container, *, embedded_runtime: bool = False) -> FastAPI:
    """With ``embedded_runtime`` the scheduler and workers run inside the server process (the default of
    ``flowservice serve``); tests drive the engine themselves."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime = container.runtime() if embedded_runtime else None
        if runtime is not None:
            runtime.start()
        try:
            yield
        finally:
            if runtime is not None:
                runtime.stop()

    app = FastAPI(
        title="flowservice",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
        # flowservice exports its own Prometheus metrics; FastAPI's native OpenTelemetry would look up the
        # global providers on every request (several µs of the lane's ~70)
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.container = container  # what ``deps.ContainerDep`` gives the routes
    errors.install(app)
    # routes are matched in order: the busiest collections first
    served: list[Collection] = []
    for router, collections in (connections.router(container), flows.router(container)):
        app.include_router(router)
        served += collections
    for router in (
        catalog.router,
        specs.router,
        search.router,
        conversion.router,
        ims.router,
        sandboxes.router,
        export.router,
        unsupported.router,
    ):
        app.include_router(router)
    # the last middleware added is the outermost: the lane comes first, so that every later one wraps it too
    app.add_middleware(Lane, container=container, collections=served)
    app.add_middleware(RequestIdMiddleware)

    def openapi() -> JsonObject:
        if app.openapi_schema is None:
            app.openapi_schema = add_identity_headers(
                get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    if container.settings.ui:  # the web UI: a client of the routes above (in-process) or of another API
        web.install(app, api_url=container.settings.ui_api_url)

    app.include_router(operations.router)  # /health, /ready, /metrics
    return app
