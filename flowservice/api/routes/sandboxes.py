"""``GET /data/foundation/sandbox-management/``: the sandboxes the caller can use (Adobe's Sandbox API shape).

Sandbox clients (the web UI's switcher, scripts) need the list without guessing names; a sandbox is an org's
partition, so the answer is the caller's org's, whatever ``x-sandbox-name`` names (which must still exist).
"""

from __future__ import annotations

from fastapi import APIRouter, Query

from flowservice.api.deps import CallerDep, ContainerDep
from flowservice.api.errors import error_responses
from flowservice.api.http import route
from flowservice.api.payloads import JsonObject
from flowservice.domain.tenancy import DEFAULT_SANDBOX

router = APIRouter(prefix="/data/foundation/sandbox-management", tags=["sandboxes"], responses=error_responses())

MAX_LIMIT = 1000


def sandbox_doc(name: str) -> JsonObject:
    production = name == DEFAULT_SANDBOX
    return {
        "name": name,
        "title": "Production" if production else name,
        "state": "active",
        "type": "production" if production else "development",
        "isDefault": production,
    }


async def _list(services: ContainerDep, caller: CallerDep, limit: int, offset: int) -> JsonObject:
    names = services.identity.sandboxes(caller.tenant.org)
    window = names[offset : offset + limit]
    return {"sandboxes": [sandbox_doc(n) for n in window], "_page": {"limit": limit, "count": len(names)}}


async def list_sandboxes(
    services: ContainerDep,
    caller: CallerDep,
    limit: int = Query(default=50, ge=1, le=MAX_LIMIT),
    offset: int = Query(default=0, ge=0),
) -> JsonObject:
    return await _list(services, caller, limit, offset)


# Adobe documents both: the sandboxes available to the caller, and those of the caller's organization; for a
# client of one org they are the same list here
route(router, "GET", "", summary="List the sandboxes available to the caller", operation_id="available_sandboxes")(
    list_sandboxes
)
route(
    router, "GET", "/sandboxes", summary="List the sandboxes of the caller's organization", operation_id="org_sandboxes"
)(list_sandboxes)
