"""Total deadlines and cancellation for outbound work.

A per-read timeout never trips on a server that drips one byte a second; a :class:`Deadline` bounds the whole
operation instead (a ``test``, an ``explore``, one page, one token). The service that starts an operation binds
one with :func:`within`; the source's network layer asks :func:`current` on every read and write, so the
deadline holds whatever the remote side does, and :meth:`Deadline.cancel` (the client went away) stops the work
at its next read, or at once where the network layer registered a way to interrupt it (:meth:`on_cancel`).
Nested deadlines never extend the outer one. Standard library only.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flowservice.domain.errors import SourceError, SourceUnavailable


class DeadlineExceeded(SourceUnavailable):
    """The operation ran out of its total time (retryable: the remote side may be faster later)."""


class Cancelled(SourceError):
    """The caller gave the operation up (its client disconnected); nobody waits for an answer."""

    status = 499
    title = "Client closed request"


class Deadline:
    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self.expires = time.monotonic() + seconds
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._hooks: dict[int, Callable[[], None]] = {}
        self._next = 0

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def check(self) -> None:
        """Raise when the operation was cancelled or its time is up."""
        if self._cancelled.is_set():
            raise Cancelled(f"{self.what} was cancelled: its caller went away")
        if time.monotonic() >= self.expires:
            raise DeadlineExceeded(f"{self.what} did not finish within its deadline of {self.seconds:g} s")

    def timeout(self, limit: float | None) -> float:
        """``limit`` (a per-read timeout, or None) shortened to what is left; raises when nothing is left."""
        self.check()
        left = self.remaining()
        return left if limit is None else min(limit, left)

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, but not past the deadline, and wake up at once on cancellation."""
        self.check()
        if seconds >= self.remaining():
            raise DeadlineExceeded(
                f"{self.what} would have to wait {seconds:.0f} s before retrying, beyond its deadline of "
                f"{self.seconds:g} s"
            )
        self._cancelled.wait(seconds)
        self.check()

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            hooks = list(self._hooks.values())
        for hook in hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001, S110 - interrupting is best effort; the next check stops the work
                pass

    @contextmanager
    def on_cancel(self, hook: Callable[[], None]) -> Iterator[None]:
        """Call ``hook`` if the deadline is cancelled while the block runs (e.g. shut a blocked socket)."""
        with self._lock:
            key, self._next = self._next, self._next + 1
            self._hooks[key] = hook
        try:
            if self._cancelled.is_set():
                try:
                    hook()
                except Exception:  # noqa: BLE001, S110 - best effort, as in cancel()
                    pass
            yield
        finally:
            with self._lock:
                self._hooks.pop(key, None)


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("deadline", default=None)


def current() -> Deadline | None:
    return _current.get()


@contextmanager
def within(seconds: float, what: str) -> Iterator[Deadline]:
    """Bind a deadline of ``seconds`` for the block, or keep the enclosing one when it ends sooner."""
    outer = _current.get()
    if outer is not None and outer.remaining() <= seconds:
        yield outer
        return
    deadline = Deadline(seconds, what)
    if outer is not None:  # inherit cancellation: cancelling the outer operation stops this one too
        if outer.cancelled:
            deadline.cancel()
        with outer.on_cancel(deadline.cancel):
            token = _current.set(deadline)
            try:
                yield deadline
            finally:
                _current.reset(token)
        return
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


@contextmanager
def bound(deadline: Deadline) -> Iterator[Deadline]:
    """Make ``deadline`` the current one for the block (in a thread that runs the operation)."""
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)
