"""The operator's routes: ``/health`` (the process is up), ``/ready`` (the database and the lake answer) and
``/metrics`` (Prometheus). Outside ``/data``: they take no tenant's identity headers.

``/metrics`` names orgs and flows, which one tenant must not learn of another: without
``FLOWSERVICE_METRICS_TOKEN`` it answers only callers on this machine (a Prometheus agent beside the server, or
a scrape through a port the load balancer does not publish); with it, any caller sending it as a bearer token.
``/ready`` tells those same callers why it is not ready, and everyone else only what failed."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from flowservice.api.deps import ContainerDep
from flowservice.api.errors import error_response
from flowservice.api.http import Json
from flowservice.domain.errors import FlowServiceError, Forbidden, Unauthorized
from flowservice.observability.database import DatabaseCollector
from flowservice.observability.metrics import exposition, registry

log = logging.getLogger("flowservice.api")
router = APIRouter(include_in_schema=False)
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/health")
async def health() -> Response:
    """Live: the process answers. A failing dependency is ``/ready``'s business, not a reason to restart."""
    return Json({"status": "ok"})


@router.get("/ready")
async def ready(request: Request, services: ContainerDep) -> Response:
    """503 naming what failed; the details (driver messages, paths, buckets) only to the callers ``/metrics``
    answers, and always in the log."""
    problems = await run_in_threadpool(services.readiness.problems)
    if not problems:
        return Json({"status": "ready"})
    for problem in problems:
        log.warning("not ready: %s (%s)", problem.summary, problem.detail)
    if _operator(request, services.settings.metrics_token):
        message = " ".join(f"{p.summary} ({p.detail})." for p in problems)
    else:
        message = " ".join(f"{p.summary}." for p in problems) + " The details are in the server log."
    return error_response(FlowServiceError(message, code="1103", title="Service Unavailable", status=503))


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
        if not _has_token(request, token):
            raise Unauthorized(
                "The metrics need 'Authorization: Bearer <FLOWSERVICE_METRICS_TOKEN>'.", title="Invalid token"
            )
        return
    if not _local(request):
        raise Forbidden(
            "The metrics answer callers on this machine only; set FLOWSERVICE_METRICS_TOKEN to scrape them "
            "from elsewhere."
        )


def _operator(request: Request, token: str | None) -> bool:
    """The caller ``/metrics`` would answer: the token's bearer, or, without a token, a caller on this machine."""
    return _has_token(request, token) if token else _local(request)


def _has_token(request: Request, token: str) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def _local(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
