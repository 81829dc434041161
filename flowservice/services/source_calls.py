"""Interactive calls to a tenant's source: ``test``, ``explore``, and the describes that validate a source
connection or a flow.

Their remote side is chosen by the tenant and may be slow on purpose, so each call is bounded three ways:
a total deadline (``deadline_seconds``, bound for the source's network layer, see ``domain.deadlines``), at
most ``per_tenant`` calls of one organization at a time (the next one is refused at once with 429 and a
``Retry-After``, before it takes a thread), and a pool of its own (``threads``), so slow sources never occupy
the threads that every other route of every tenant shares. A call whose client went away is cancelled.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar, TypeVarTuple

from flowservice.domain import deadlines
from flowservice.domain.errors import TooManyRequests
from flowservice.domain.tenancy import Tenant

T = TypeVar("T")
Args = TypeVarTuple("Args")
_POLL_SECONDS = 0.25  # how often a waiting call checks whether its client is still there
_held: contextvars.ContextVar[str | None] = contextvars.ContextVar("source_call_slot", default=None)


class SourceCalls:
    def __init__(
        self, *, threads: int = 16, per_tenant: int = 4, deadline_seconds: float = 60.0, retry_after: int = 5
    ) -> None:
        if threads < 1 or per_tenant < 1 or deadline_seconds <= 0:
            raise ValueError("threads and per_tenant must be >= 1 and deadline_seconds > 0")
        self.per_tenant = per_tenant
        self.deadline_seconds = deadline_seconds
        self.retry_after = retry_after
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._busy: dict[str, int] = {}

    def in_flight(self, tenant: Tenant) -> int:
        with self._lock:
            return self._busy.get(tenant.org, 0)

    async def run(
        self,
        tenant: Tenant,
        what: str,
        call: Callable[[*Args], T],
        *args: *Args,
        disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> T:
        """``call(*args)`` on the pool of source calls, under the tenant's slot and a deadline; cancelled
        (``deadlines.Cancelled``) when ``disconnected()`` says the client went away."""
        key = self._acquire(tenant)
        deadline = deadlines.Deadline(self.deadline_seconds, what)

        def bound() -> T:
            with deadlines.bound(deadline):
                _held.set(key)
                return call(*args)

        try:
            future: Future[T] = self._executor().submit(contextvars.copy_context().run, bound)
        except BaseException:
            self._release(key)
            raise
        future.add_done_callback(lambda _: self._release(key))  # the slot is held until the thread is free
        waiting = asyncio.wrap_future(future)
        try:
            while True:
                done, _ = await asyncio.wait({waiting}, timeout=_POLL_SECONDS)
                if done:
                    return waiting.result()
                if disconnected is not None and await disconnected():
                    deadline.cancel()
                    deadline.check()  # raises Cancelled
        except asyncio.CancelledError:
            deadline.cancel()
            raise

    @contextmanager
    def held(self, tenant: Tenant, what: str) -> Iterator[deadlines.Deadline]:
        """The same bounds for a call made in the current thread (a route already on the shared pool); a
        no-op inside :meth:`run` for the same tenant, which already holds the slot and the deadline."""
        key = tenant.org
        current = deadlines.current()
        if _held.get() == key and current is not None:
            yield current
            return
        self._acquire(tenant)
        token = _held.set(key)
        try:
            with deadlines.within(self.deadline_seconds, what) as deadline:
                yield deadline
        finally:
            _held.reset(token)
            self._release(key)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------------------------------- internals
    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="source-call")
            return self._pool

    def _acquire(self, tenant: Tenant) -> str:
        key = tenant.org  # per organization: sandbox names are the caller's choice
        with self._lock:
            busy = self._busy.get(key, 0)
            if busy >= self.per_tenant:
                raise TooManyRequests(
                    f"The organization already has {busy} calls to its sources in progress (the limit is "
                    f"{self.per_tenant}); retry after {self.retry_after} seconds.",
                    retry_after=self.retry_after,
                )
            self._busy[key] = busy + 1
        return key

    def _release(self, key: str) -> None:
        with self._lock:
            busy = self._busy.get(key, 0) - 1
            if busy > 0:
                self._busy[key] = busy
            else:
                self._busy.pop(key, None)
