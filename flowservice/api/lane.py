"""The busiest routes served straight from ASGI: reading one resource and creating a connection.

Through FastAPI each request pays for the router's scan, dependency resolution and an exit stack: several times
the CPU of the work itself (profile with ``bench/api.py --profile``). ``Lane`` is a pure ASGI middleware that
answers these routes from the app's table of CRUD collections (what ``add_crud`` returned) with the very
functions the FastAPI routes call (``read_one``, ``create_one``, ``read_json_body``), the same headers and the
same error bodies; anything else goes on to FastAPI. ``create_app`` adds it first, so every middleware added
after it wraps its answers as it wraps FastAPI's: ``RequestIdMiddleware`` gives them their request id and
``/path/`` → ``/path``, and its last resort answers an unexpected error here as it does for any route. The
FastAPI routes stay registered: they document the operations in OpenAPI and are what the lane must match
(``tests/integration/api/test_lane.py`` compares the two).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from flowservice.api.errors import error_response
from flowservice.api.http import Json, identity_headers, read_json_body
from flowservice.api.routes.crud import Collection, create_one, read_one
from flowservice.domain import log_context
from flowservice.domain.errors import FlowServiceError
from flowservice.domain.tenancy import Caller
from flowservice.ports import WriteWouldWait, writes_must_not_wait

if TYPE_CHECKING:
    from flowservice.bootstrap import Container


class Lane:
    """``GET /{collection}/{id}`` of every collection and ``POST /{collection}`` of those with local writes (a
    create with a query string, such as ``mode=draft``, goes on to the FastAPI route: drafts are not hot)."""

    def __init__(self, app: ASGIApp, *, container: Container, collections: Iterable[Collection]) -> None:
        self.app = app
        self.container = container
        self._reads = {c.path: c for c in collections}
        self._creates = {path: c for path, c in self._reads.items() if c.local_writes}
        self._writers: ThreadPoolExecutor | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            if method == "GET":
                base, _, resource_id = scope["path"].rpartition("/")
                collection = self._reads.get(base)
                if collection is not None:
                    await self._answer(collection, scope, receive, send, resource_id)
                    return
            elif method == "POST" and not scope.get("query_string"):  # mode=draft, and any query: FastAPI's
                collection = self._creates.get(scope["path"])
                if collection is not None:
                    await self._answer(collection, scope, receive, send, None)
                    return
        await self.app(scope, receive, send)

    async def _answer(
        self, collection: Collection, scope: Scope, receive: Receive, send: Send, resource_id: str | None
    ) -> None:
        """Read ``resource_id``, or create (``None``). An error that is no ``FlowServiceError`` goes up to
        ``RequestIdMiddleware``, as from a FastAPI route."""
        try:
            caller = self.container.identity.authenticate(*identity_headers(scope["headers"]))
            log_context.set_tenant(caller.tenant.org, caller.tenant.sandbox)
            if resource_id is None:
                response = await self._create(collection, caller, scope, receive)
            else:
                response = Json(read_one(collection, caller.tenant, resource_id))
        except FlowServiceError as exc:
            response = error_response(exc)
        await response(scope, receive, send)

    async def _create(self, collection: Collection, caller: Caller, scope: Scope, receive: Receive) -> Response:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        body = await read_json_body(headers, _chunks(receive), self.container.settings.max_body_bytes)
        path = scope["path"]
        # the insert may wait for SQLite's write lock (another process can hold it for seconds): on the loop only
        # when nothing has to wait, else in a writer thread
        waiting = writes_must_not_wait.set(True)
        try:
            return create_one(collection, caller, body, path)
        except WriteWouldWait:
            pass  # nothing was written
        finally:
            writes_must_not_wait.reset(waiting)
        # in the lane's own writer threads, with this request's context (its request id): a bare executor hop
        # costs about half of ``anyio.to_thread``'s, and creates are the lane's hottest write
        context = contextvars.copy_context()
        write = partial(context.run, create_one, collection, caller, body, path)
        return await asyncio.get_running_loop().run_in_executor(self._writer_threads(), write)

    def _writer_threads(self) -> ThreadPoolExecutor:
        if self._writers is None:
            # SQLite has one writer: one thread, with no lock handoffs between threads; PostgreSQL takes several
            sqlite = self.container.engine.dialect.name == "sqlite"
            self._writers = ThreadPoolExecutor(max_workers=1 if sqlite else 8, thread_name_prefix="lane-writer")
        return self._writers


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: what arrived is all there is
            return
        yield message.get("body", b"")
        if not message.get("more_body"):
            return
