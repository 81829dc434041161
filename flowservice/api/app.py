"""``create_app(container)``: the FastAPI application over already-wired services (tests pass their own)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from flowservice.api import errors
from flowservice.api.http import RequestIdMiddleware
from flowservice.api.routes import connections, ims, specs

DESCRIPTION = """A self-hostable server that speaks Adobe Experience Platform's Flow Service API
(connection specs, connections, explore, source and target connections, flow specs, flows, runs) and its
Catalog and Data Prep companions. Every call needs `Authorization: Bearer`, `x-api-key`, `x-gw-ims-org-id`
and `x-sandbox-name`; bodies need `Content-Type: application/json`. Errors use the Flow Service error body."""


def create_app(container: Any) -> FastAPI:
    app = FastAPI(title="flowservice", version="0.1.0", description=DESCRIPTION, docs_url="/docs",
                  redoc_url=None)
    app.state.container = container
    errors.install(app)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(ims.router)
    app.include_router(specs.router)
    app.include_router(connections.router)
    for extra in getattr(container, "extra_routers", ()):
        app.include_router(extra)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
