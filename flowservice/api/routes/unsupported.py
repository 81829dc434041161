"""Operations of Adobe's catalogue that flowservice does not serve, answered by name and with the reason.

A client written for Adobe that calls one of them gets a Flow Service error body (501) that says what is not
supported and why, not a "no route" 404 that leaves it guessing. ``docs/api.md`` lists every operation of the
catalogue with its status here; a test walks that list through a running server.
"""

from __future__ import annotations

from fastapi import APIRouter

from flowservice.api.deps import CallerDep
from flowservice.api.errors import error_responses
from flowservice.api.http import route
from flowservice.domain.errors import NotSupported

SCHEMA_REGISTRY = "/data/foundation/schemaregistry"
SCHEMAS_REASON = (
    "flowservice runs no Schema Registry: a dataset's schema is derived from its source table's metadata and "
    "shown by GET /data/foundation/catalog/dataSets/{id}; see docs/api.md."
)

router = APIRouter(tags=["not supported here"], responses=error_responses(401, 403, 501))


def _refuse(operation: str, reason: str) -> None:
    raise NotSupported(f"{operation} is not supported by this server: {reason}")


@route(router, "GET", SCHEMA_REGISTRY + "/{container_id}/schemas/{schema_id}", summary="Not supported here")
def get_schema(container_id: str, schema_id: str, _caller: CallerDep) -> None:
    _refuse(f"GET {SCHEMA_REGISTRY}/{container_id}/schemas/{{SCHEMA_ID}}", SCHEMAS_REASON)


@route(router, "POST", SCHEMA_REGISTRY + "/tenant/schemas", summary="Not supported here")
def create_schema(_caller: CallerDep) -> None:
    _refuse(f"POST {SCHEMA_REGISTRY}/tenant/schemas", SCHEMAS_REASON)
