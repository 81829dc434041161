"""The busiest routes served straight from ASGI: reading one resource and creating a connection.

Through FastAPI each request pays for the middleware stack, the router's scan, dependency resolution and an
exit stack: several times the CPU of the work itself (profile with ``bench/api.py --profile``). ``App`` answers
these routes before that stack with the very functions the FastAPI routes call (``read_one``, ``create_one``,
``read_json_body``), the same headers and the same error bodies; anything else goes to FastAPI. The FastAPI
routes stay registered: they document the operations in OpenAPI and are what the lane must match
(``tests/integration/api/test_lane.py`` compares the two).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from flowservice.api.errors import error_response, request_id_var, unexpected_error
from flowservice.api.http import Json, identity_headers, read_json_body, request_id, without_trailing_slash
from flowservice.domain.errors import FlowServiceError
from flowservice.domain.tenancy import Principal, Tenant
from flowservice.ports import WriteWouldWait, writes_must_not_wait


@dataclass(frozen=True)
class Collection:
    """A CRUD collection (``add_crud``): where it lives, the container attribute serving it, and whether
    creating one touches only the metadata database (then the lane serves the create: on the loop when the
    write need not wait for a lock, else in a writer thread)."""

    path: str
    service: str
    local_writes: bool


COLLECTIONS: dict[str, Collection] = {}


def register(collection: Collection) -> None:
    COLLECTIONS[collection.path] = collection


def read_one(service: Any, tenant: Tenant, resource_id: str) -> dict[str, Any]:
    """``GET /{collection}/{id}``'s body: the stored document, or its ``view`` when the service derives one."""
    doc = service.get(tenant, resource_id).doc
    view = getattr(service, "view", None)
    return {"items": [view(tenant, doc) if view else doc]}


def create_one(service: Any, who: tuple[Principal, Tenant], body: Any, path: str) -> Response:
    stored = service.create(who[1], who[0], body)
    return Json(
        {"id": stored.id, "etag": stored.etag}, status_code=201, headers={"Location": f"{path.rstrip('/')}/{stored.id}"}
    )


class App(FastAPI):
    """FastAPI with the lane in front of it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not await self._lane(scope, receive, send):
            await super().__call__(scope, receive, send)

    async def _lane(self, scope: Scope, receive: Receive, send: Send) -> bool:
        method, path = scope["method"], without_trailing_slash(scope["path"])
        if method == "GET":
            base, _, resource_id = path.rpartition("/")
            collection = COLLECTIONS.get(base)
        elif method == "POST":
            collection, resource_id = COLLECTIONS.get(path), ""
            if collection is not None and not collection.local_writes:
                collection = None
        else:
            return False
        if collection is None:
            return False
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        rid = request_id(headers)
        token = request_id_var.set(rid)
        try:
            try:
                response = await self._answer(collection, scope, headers, resource_id, path, receive)
            except FlowServiceError as exc:
                response = error_response(exc)
            except Exception as exc:  # noqa: BLE001 - the same last resort as the app's handler
                response = unexpected_error(exc)
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [*response.raw_headers, (b"x-request-id", rid.encode())],
                }
            )
            await send({"type": "http.response.body", "body": response.body})
        finally:
            request_id_var.reset(token)
        return True

    async def _answer(
        self,
        collection: Collection,
        scope: Scope,
        headers: dict[str, str],
        resource_id: str,
        path: str,
        receive: Receive,
    ) -> Response:
        container = self.state.container
        who = container.identity.authenticate(*identity_headers(scope["headers"]))
        service = getattr(container, collection.service)
        if not resource_id:
            body = await read_json_body(headers, _chunks(receive), container.settings.max_body_bytes)
            # the insert may wait for SQLite's write lock (another process can hold it for seconds): on the loop
            # only when nothing has to wait, else in a writer thread
            waiting = writes_must_not_wait.set(True)
            try:
                return create_one(service, who, body, path)
            except WriteWouldWait:
                pass  # nothing was written
            finally:
                writes_must_not_wait.reset(waiting)
            return await self._in_writer(create_one, service, who, body, path)
        return Json(read_one(service, who[1], resource_id))

    _writers: ThreadPoolExecutor | None = None

    async def _in_writer(self, fn: Callable[..., Response], *args: Any) -> Response:
        """``fn(*args)`` in the lane's own writer threads, with this request's context (its request id). A bare
        executor hop costs about half of ``anyio.to_thread``'s, and creates are the lane's hottest write."""
        if self._writers is None:
            # SQLite has one writer: one thread, with no lock handoffs between threads; PostgreSQL takes several
            sqlite = self.state.container.engine.dialect.name == "sqlite"
            self._writers = ThreadPoolExecutor(max_workers=1 if sqlite else 8, thread_name_prefix="lane-writer")
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._writers, partial(context.run, fn, *args))


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: what arrived is all there is
            return
        yield message.get("body", b"")
        if not message.get("more_body"):
            return
