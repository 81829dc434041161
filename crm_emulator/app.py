"""The ASGI application: Entra ID routes, the Web API behind bearer auth, limits, faults and admin routes.

``create_app(config)`` is all a test needs to run the emulator in-process (``httpx.ASGITransport``); the
command line serves the same app with uvicorn over HTTPS.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from crm_emulator.auth import JSON, Identity, TokenError
from crm_emulator.config import EmulatorConfig
from crm_emulator.cost import WORK, Work
from crm_emulator.data import OrgData
from crm_emulator.errors import (
    EXPIRED_DELTA_MESSAGE,
    EXPIRED_VERSION_STAMP,
    THROTTLE_MESSAGES,
    UNEXPECTED,
    DataverseError,
    error_body,
)
from crm_emulator.faults import FaultPlan, FaultRule, FaultSpecError, Stats
from crm_emulator.protection import AFFINITY_COOKIE, Budget, Throttle, WebServers
from crm_emulator.responses import ODATA_JSON
from crm_emulator.schema_changes import SchemaChangeError, SchemaChanges
from crm_emulator.url_limit import too_long, url_too_long
from crm_emulator.webapi.router import WebApi

log = logging.getLogger("crm_emulator")
API_VERSIONS = {"v9.0", "v9.1", "v9.2"}
Scope = MutableMapping[str, Any]


class ConnectionCut(Exception):
    """Raised mid-body by the ``reset`` fault: the server drops the connection without finishing."""


class Emulator:
    """Everything one emulated org holds at run time."""

    def __init__(self, config: EmulatorConfig, cache_mb: int = 256) -> None:
        self.config = config
        if config.data_dir is not None:
            config.data_dir.mkdir(parents=True, exist_ok=True)
        self.data = OrgData(
            config.seed, config.scale, config.data_dir, cache_mb, config.random_guids, config.extra_tables
        )
        users = self.data.rows["systemuser"]
        self.identity = Identity(
            config,
            str(users.values(0)["azureactivedirectoryobjectid"]),
            str(users.values(1)["azureactivedirectoryobjectid"]),
        )
        self.user_index = {self.identity.user_oid: 0, self.identity.app_oid: 1}
        self.webapi = WebApi(config, self.data)
        self.schema_changes = SchemaChanges(self.data, self.webapi.metadata, config.seed)
        self.plan = FaultPlan(config.seed)
        self.plan.set(config.faults)
        self.stats = Stats()
        self.in_flight: dict[str, int] = {}
        self.window: deque[float] = deque()
        self.servers: WebServers | None = None
        if config.protection is not None:
            self.servers = WebServers(config.web_servers, config.protection, config.seed, time.monotonic())
        self.user_labels = {self.identity.user_oid: "user", self.identity.app_oid: "app"}

    # --- shared response pieces --------------------------------------------------------------------------
    def challenge(self) -> Response:
        org = self.config.org_url
        header = f"Bearer authorization_uri={org}/{self.config.tenant_id}/oauth2/authorize, resource_id={org}/"
        return Response(b"", status_code=401, headers={"WWW-Authenticate": header, "OData-Version": "4.0"})

    def service_headers(self, budget: Budget | None = None) -> dict[str, str]:
        now = time.monotonic()
        if budget is not None:
            requests, seconds = budget.remaining(now)
        else:
            self.window.append(now)
            while self.window and self.window[0] < now - 300:
                self.window.popleft()
            requests, seconds = max(0, 6000 - len(self.window)), 1200.0
        return {
            "x-ms-service-request-id": str(uuid.uuid4()),
            "REQ_ID": str(uuid.uuid4()),
            "x-ms-ratelimit-burst-remaining-xrm-requests": str(requests),
            "x-ms-ratelimit-time-remaining-xrm-requests": f"{seconds:,.2f}",
            "x-ms-dop-hint": str(self.config.dop_hint),
        }

    def throttled(self, throttle: Throttle) -> Response:
        """The 429 service protection answers with (reference §6.3)."""
        assert self.config.protection is not None
        code, message = self.config.protection.message(throttle.kind)
        return Response(
            error_body(code, message),
            status_code=429,
            media_type=ODATA_JSON,
            headers={"Retry-After": str(throttle.retry_after), "OData-Version": "4.0"},
        )

    def fault_response(self, rule: FaultRule) -> Response | None:
        """The response a firing rule answers with; None for rules that shape a normal response instead."""
        if rule.kind == "throttle":
            code, message = THROTTLE_MESSAGES[rule.limit]
            return Response(
                error_body(code, message),
                status_code=429,
                media_type=ODATA_JSON,
                headers={"Retry-After": str(rule.retry_after), "OData-Version": "4.0"},
            )
        if rule.kind == "unavailable":
            return Response(
                error_body(
                    UNEXPECTED,
                    rule.message or "Unable to perform the request as the org is not available now, please retry later",
                ),
                status_code=rule.status or 503,
                media_type=ODATA_JSON,
                headers={"Retry-After": str(rule.retry_after), "OData-Version": "4.0"},
            )
        if rule.kind == "server_error":
            return Response(
                error_body(rule.code or UNEXPECTED, rule.message or "An unexpected error occurred."),
                status_code=rule.status or 500,
                media_type=ODATA_JSON,
                headers={"OData-Version": "4.0"},
            )
        if rule.kind == "token_expiry":
            if rule.revoke:
                self.identity.revoke_all()
            return self.challenge()
        if rule.kind == "expired_delta_token":
            return Response(
                error_body(EXPIRED_VERSION_STAMP, EXPIRED_DELTA_MESSAGE),
                status_code=400,
                media_type=ODATA_JSON,
                headers={"OData-Version": "4.0"},
            )
        if rule.kind == "error":
            return Response(
                error_body(rule.code or "", rule.message or "Injected error."),
                status_code=rule.status or 500,
                media_type=ODATA_JSON,
                headers={"OData-Version": "4.0"},
            )
        return None

    def fire(self, request: Request, table: str | None, entity_set: str | None) -> FaultRule | None:
        delta = "$deltatoken" in request.query_params
        rule = self.plan.pick(request.url.path, table, entity_set, request.method, delta)
        if rule is not None:
            self.stats.faults_fired[rule.id] += 1
            self.stats.faults_by_kind[rule.kind] += 1
            log.info("fault %s (%s) on %s %s", rule.id, rule.kind, request.method, request.url.path)
        return rule

    # --- Web API -----------------------------------------------------------------------------------------
    async def webapi_route(self, request: Request) -> Response:
        version = request.path_params["version"]
        path = request.path_params.get("path", "")
        self.stats.by_kind["webapi"] += 1
        if path == "$batch":
            self.stats.by_kind["batch"] += 1
        if version not in API_VERSIONS:
            return Response(
                error_body("0x8006088a", f"Resource not found for the segment '{version}'."),
                status_code=404,
                media_type=ODATA_JSON,
            )
        if request.method == "GET" and too_long(len(str(request.url)), self.config.max_url_length):
            self.stats.by_kind["url_too_long"] += 1
            return url_too_long()
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return self.challenge()
        try:
            principal = self.identity.validate(auth[7:].strip())
        except TokenError as exc:
            log.info("401 for %s: %s", request.url.path, exc.reason)
            return self.challenge()
        user = principal.oid
        budget: Budget | None = None
        cookie_header: str | None = None
        if self.servers is not None:
            server, issue = self.servers.pick(request.cookies.get(AFFINITY_COOKIE))
            if issue:
                cookie_header = self.servers.set_cookie(server, request.url.scheme == "https")
            budget = self.servers.budget(user, server)
            throttle = budget.admit(time.monotonic())
            if throttle is not None:
                self.stats.throttled[throttle.kind] += 1
                refused = self.throttled(throttle)
                refused.headers.update(self.service_headers(budget))
                if cookie_header is not None:
                    refused.headers["Set-Cookie"] = cookie_header
                return refused
            request.scope.setdefault("emulator.cleanup", []).append(budget.release)
        elif self.in_flight.get(user, 0) >= self.config.max_concurrency:
            self.stats.concurrency_rejections += 1
            code, message = THROTTLE_MESSAGES["concurrency"]
            message = message.replace("52", str(self.config.max_concurrency))
            return Response(
                error_body(code, message),
                status_code=429,
                media_type=ODATA_JSON,
                headers={"Retry-After": "1", "OData-Version": "4.0"},
            )
        self.in_flight[user] = self.in_flight.get(user, 0) + 1
        self.stats.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        request.scope.setdefault("emulator.cleanup", []).append(lambda: self._release(user))
        started = time.monotonic()
        work = Work()
        token = WORK.set(work)
        try:
            response = await self._execute(request, path, user)
            elapsed = time.monotonic() - started
            cost = self.config.cost_model
            charged = elapsed
            if cost is not None and response.status_code != 429:
                charged = cost.seconds(work)
                if charged > elapsed:
                    await asyncio.sleep(charged - elapsed)
        finally:
            WORK.reset(token)
        if budget is not None:
            budget.charge(time.monotonic(), charged)
        self.stats.execution_seconds += charged
        response.headers.update(self.service_headers(budget))
        if cookie_header is not None:
            response.headers["Set-Cookie"] = cookie_header
        return response

    async def _execute(self, request: Request, path: str, user: str) -> Response:
        """One admitted Web API request: faults, latency, the handler; its service headers come after."""
        table = self.webapi.resolve_table(path)
        rule = self.fire(request, table.logical_name if table else None, table.entity_set if table else None)
        try:
            if rule is not None:
                early = self.fault_response(rule)
                if early is not None:
                    return early
                if rule.kind == "slow":
                    await asyncio.sleep(rule.delay_ms / 1000)
            if self.config.latency_ms and request.method == "GET" and table is not None:
                await asyncio.sleep(self.config.latency_ms / 1000)
            before = self.webapi.pages.records_served
            response = await self.webapi.handle(request, path, self.user_index.get(user, 1))
            self.stats.records_served += self.webapi.pages.records_served - before
        except DataverseError as exc:
            response = Response(
                exc.body(),
                status_code=exc.status,
                media_type=ODATA_JSON,
                headers={"OData-Version": "4.0", **exc.headers},
            )
        if rule is not None and rule.kind == "reset":
            return cut_after(response, rule.after_bytes)
        return response

    def _release(self, user: str) -> None:
        self.in_flight[user] -= 1
        self.stats.in_flight -= 1

    # --- Entra ID ----------------------------------------------------------------------------------------
    async def entra(self, request: Request, handler: Callable[[], Awaitable[Response] | Response]) -> Response:
        self.stats.by_kind["identity"] += 1
        rule = self.fire(request, None, None)
        if rule is not None:
            early = self.fault_response(rule)
            if early is not None:
                return early
            if rule.kind == "slow":
                await asyncio.sleep(rule.delay_ms / 1000)
        result = handler()
        return await result if isinstance(result, Awaitable) else result

    # --- admin -------------------------------------------------------------------------------------------
    async def admin_faults(self, request: Request) -> Response:
        self.stats.by_kind["admin"] += 1
        if request.method == "DELETE":
            self.plan.clear()
        elif request.method == "POST":
            try:
                body = orjson.loads(await request.body() or b"[]")
                rules = body.get("rules", []) if isinstance(body, dict) else body
                append = (isinstance(body, dict) and bool(body.get("append"))) or (
                    request.query_params.get("append", "false").lower() == "true"
                )
                if not isinstance(rules, list):
                    raise FaultSpecError('expected a list of rules or {"rules": [...]}')
                self.plan.set(rules, append=append)
            except (orjson.JSONDecodeError, FaultSpecError, TypeError) as exc:
                return Response(orjson.dumps({"error": str(exc)}), status_code=400, media_type=JSON)
        return Response(orjson.dumps({"rules": [r.public() for r in self.plan.rules]}), media_type=JSON)

    async def admin_record(self, request: Request) -> Response:
        """Write columns of an existing record verbatim, read-only ones included (``modifiedon``): how tests
        make a row that was committed late, with a timestamp older than rows already read. Date-times are ISO
        8601 text; the record gets a new version, as any write."""
        self.stats.by_kind["admin"] += 1
        name, row_id = request.path_params["table"], request.path_params["row_id"]
        try:
            body = orjson.loads(await request.body() or b"{}")
            if name not in self.data.catalog.by_logical or not isinstance(body, dict):
                raise ValueError(f"expected a table's logical name and an object of values, got {name!r}")
            item = self.data.get(name, row_id)
            if item is None:
                raise ValueError(f"no {name} record {row_id}")
            values = dict(self.data.values(name, item))
            for prop, value in body.items():
                column = self.data.column(name, prop)
                if column is None:
                    raise ValueError(f"{name} has no column {prop!r}")
                is_date = column.type_name == "DateTimeType" and isinstance(value, str)
                values[prop] = datetime.fromisoformat(value.replace("Z", "+00:00")) if is_date else value
        except (orjson.JSONDecodeError, ValueError) as exc:
            return Response(orjson.dumps({"error": str(exc)}), status_code=400, media_type=JSON)
        version = self.data.write(name, row_id, values)
        return Response(orjson.dumps({"versionnumber": version}), media_type=JSON)

    async def admin_org(self, request: Request) -> Response:
        """The org's identity; ``POST /_emulator/org/reset`` (body ``{"kind": "reset"|"copy"|"restore"}``)
        gives it a new organization id and version and makes every earlier delta token fail with 0x80044352.
        Rows stay as they are (a copy of the same data)."""
        self.stats.by_kind["admin"] += 1
        life = self.webapi.metadata.lifecycle
        if request.method == "POST":
            try:
                body = orjson.loads(await request.body() or b"{}")
                kind = body.get("kind", "reset") if isinstance(body, dict) else None
                if kind not in ("reset", "copy", "restore"):
                    raise ValueError(f'expected {{"kind": "reset" | "copy" | "restore"}}, got {body!r}')
            except (orjson.JSONDecodeError, ValueError) as exc:
                return Response(orjson.dumps({"error": str(exc)}), status_code=400, media_type=JSON)
            overlay = self.data.overlay
            overlay.version += 1  # no token issued so far names this version
            life.reset(overlay.version, kind)
        return Response(orjson.dumps(life.public()), media_type=JSON)

    async def admin_metadata(self, request: Request) -> Response:
        """Schema drift: ``POST /_emulator/metadata/{table}`` adds, widens or deletes a column or renames an
        option label (crm_emulator.schema_changes); ``GET /_emulator/metadata`` lists the changes made."""
        self.stats.by_kind["admin"] += 1
        if request.method == "POST":
            try:
                body = orjson.loads(await request.body() or b"{}")
                if not isinstance(body, dict):
                    raise SchemaChangeError("expected an object describing one change")
                entry = self.schema_changes.apply(request.path_params["table"], body)
            except (orjson.JSONDecodeError, SchemaChangeError, TypeError) as exc:
                return Response(orjson.dumps({"error": str(exc)}), status_code=400, media_type=JSON)
            return Response(orjson.dumps(entry), media_type=JSON)
        return Response(orjson.dumps(self.schema_changes.public()), media_type=JSON)

    async def admin_stats(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.stats = Stats(in_flight=self.stats.in_flight)
            for rule in self.plan.rules:
                rule.seen = rule.fired = 0
        body = self.stats.public(self.plan)
        if self.servers is not None:
            body["protection"] = self.servers.public(self.user_labels)
        return Response(orjson.dumps(body), media_type=JSON)

    async def admin_protection(self, request: Request) -> Response:
        """Budgets per user and web server (``DELETE`` starts every window afresh)."""
        self.stats.by_kind["admin"] += 1
        if self.servers is None:
            return Response(
                orjson.dumps({"error": "service protection is off (start with --service-protection)"}),
                status_code=404,
                media_type=JSON,
            )
        if request.method == "DELETE":
            self.servers.reset(time.monotonic())
        return Response(orjson.dumps(self.servers.public(self.user_labels)), media_type=JSON)


def cut_after(response: Response, limit: int) -> Response:
    """Send the headers and the first ``limit`` bytes of the body, then drop the connection."""
    if isinstance(response, StreamingResponse):
        source = response.body_iterator
    else:
        body = bytes(response.body)

        async def single() -> AsyncIterator[bytes]:
            yield body

        source = single()

    async def truncated() -> AsyncIterator[bytes]:
        sent = 0
        async for chunk in source:
            piece = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
            if sent + len(piece) >= limit:
                yield piece[: max(0, limit - sent)]
                raise ConnectionCut(f"reset fault after {limit} bytes")
            sent += len(piece)
            yield piece
        raise ConnectionCut(f"reset fault after {sent} bytes")

    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return StreamingResponse(
        truncated(), status_code=response.status_code, headers=headers, media_type=response.media_type
    )


class Accounting:
    """Pure ASGI middleware: counts statuses and runs per-request cleanups once the body has been sent."""

    def __init__(self, app: Any, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 0}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        stats = self.emulator.stats
        stats.requests += 1
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.emulator.stats.by_status[str(status["code"] or "cut")] += 1
            for cleanup in scope.get("emulator.cleanup", []):
                cleanup()


def create_app(config: EmulatorConfig, cache_mb: int = 256) -> Any:
    """The emulator as an ASGI app (``app.state.emulator`` is the :class:`Emulator`)."""
    emu = Emulator(config, cache_mb)
    ident = emu.identity

    def entra(handler: Callable[[Request], Any]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await emu.entra(request, lambda: handler(request))

        return endpoint

    async def root(request: Request) -> Response:
        body = {
            "org_url": config.org_url,
            "api_url": config.api_url,
            "tenant_id": config.tenant_id,
            "authority": config.authority,
            "emulator": "crm_emulator",
        }
        return Response(orjson.dumps(body), media_type=JSON)

    routes = [
        Route("/", root),
        Route("/_emulator/faults", emu.admin_faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/stats", emu.admin_stats, methods=["GET", "DELETE"]),
        Route("/_emulator/records/{table}/{row_id}", emu.admin_record, methods=["PATCH"]),
        Route("/_emulator/protection", emu.admin_protection, methods=["GET", "DELETE"]),
        Route("/_emulator/org", emu.admin_org, methods=["GET"]),
        Route("/_emulator/metadata", emu.admin_metadata, methods=["GET"]),
        Route("/_emulator/metadata/{table}", emu.admin_metadata, methods=["POST"]),
        Route("/_emulator/org/reset", emu.admin_org, methods=["POST"]),
        Route("/common/userrealm/{user}", entra(lambda r: ident.userrealm(r.path_params["user"]))),
        Route("/common/discovery/instance", entra(ident.instance_discovery)),
        Route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            entra(lambda r: ident.openid_configuration(r.path_params["tenant"])),
        ),
        Route(
            "/{tenant}/.well-known/openid-configuration",
            entra(lambda r: ident.openid_configuration(r.path_params["tenant"], v2=False)),
        ),
        Route(
            "/{tenant}/oauth2/v2.0/token", entra(lambda r: ident.token(r, r.path_params["tenant"])), methods=["POST"]
        ),
        Route(
            "/{tenant}/oauth2/token",
            entra(lambda r: ident.token(r, r.path_params["tenant"], v2=False)),
            methods=["POST"],
        ),
        Route("/{tenant}/oauth2/authorize", entra(ident.authorize)),
        Route("/{tenant}/oauth2/v2.0/authorize", entra(ident.authorize)),
        Route("/{tenant}/discovery/v2.0/keys", entra(lambda r: ident.keys())),
        Route("/{tenant}/discovery/keys", entra(lambda r: ident.keys())),
        Route("/api/data/{version}", emu.webapi_route, methods=["GET"]),
        Route("/api/data/{version}/{path:path}", emu.webapi_route, methods=["GET", "POST", "PATCH", "DELETE", "PUT"]),
    ]
    app = Starlette(routes=routes)
    app.state.emulator = emu
    return Accounting(app, emu)
