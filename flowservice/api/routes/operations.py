"""The operator's routes: ``/health`` (the process is up), ``/ready`` (the database and the lake answer) and
``/metrics`` (Prometheus). Outside ``/data``: they take no tenant's identity headers.

``/metrics`` names orgs and flows, which one tenant must not learn of another: without
``FLOWSERVICE_METRICS_TOKEN`` it answers only callers on this machine (a Prometheus agent beside the server, or
a scrape through a port the load balancer does not publish); with it, any caller sending it as a bearer token."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from flowservice.api.deps import ContainerDep
from flowservice.api.errors import error_response
from flowservice.api.http import Json
from flowservice.domain.errors import FlowServiceError, Forbidden, Unauthorized
from flowservice.observability.database import DatabaseCollector
from flowservice.observability.metrics import exposition, registry

router = APIRouter(include_in_schema=False)
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/health")
async def health() -> Response:
    """Live: the process answers. A failing dependency is ``/ready``'s business, not a reason to restart."""
    return Json({"status": "ok"})


@router.get("/ready")
async def ready(services: ContainerDep) -> Response:
    problems = await run_in_threadpool(services.readiness.problems)
    if problems:
        return error_response(
            FlowServiceError(" ".join(problems), code="1103", title="Service Unavailable", status=503)
        )
    return Json({"status": "ready"})


@router.get("/metrics")
async def metrics(request: Request, services: ContainerDep) -> Response:
    _allowed(request, services.settings.metrics_token)
    state = request.app.state
    if getattr(state, "metrics_registry", None) is None:
        state.metrics_registry = registry(DatabaseCollector(services.observed))
    body = await run_in_threadpool(exposition, state.metrics_registry)  # database queries: off the loop
    return Response(body, media_type=_CONTENT_TYPE)


def _allowed(request: Request, token: str | None) -> None:
    if token:
        sent = request.headers.get("authorization", "")
        scheme, _, value = sent.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise Unauthorized(
                "The metrics need 'Authorization: Bearer <FLOWSERVICE_METRICS_TOKEN>'.", title="Invalid token"
            )
        return
    host = request.client.host if request.client else ""
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local:
        raise Forbidden(
            "The metrics answer callers on this machine only; set FLOWSERVICE_METRICS_TOKEN to scrape them "
            "from elsewhere."
        )
