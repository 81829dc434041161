"""Adaptive concurrency per connection, for remote APIs that ask clients to "let the server tell you how much it
can handle" (Dataverse limits each user to 52 concurrent requests per web server). The limit starts at the
configured maximum, or at the server's hint when it gives one (e.g. Dataverse's ``x-ms-dop-hint``, the
recommended parallelism of the org); it halves on a 429, once per round (the 429s of requests already in flight
when it halved do not halve it again), and grows by one after a run of successes (AIMD), never above the
configured maximum: the hint is where to start, the 429s say where to stop. A hint with ``ramp`` (a partitioned
read's) grows by one per success until the first 429 (a slow start, as TCP's: the limit doubles per round of
requests), so a read that starts at the hint reaches the budget's concurrency within a few pages. A source
shares one limiter between every client of the same connection in the process.

That sharing is fair: a slot that frees goes to the waiting *owner* (a run's client) served longest ago, not to
whichever thread wakes first, so one flow reading with many threads (a partitioned read) cannot starve another
flow of the same connection, whose single chain still gets every other free slot (Dataverse counts one user's
requests together, whichever flow sends them).

Across processes, each limiter keeps to its share: ``share(n)`` with ``n`` processes reading the connection at
once (the worker's heartbeat counts them in the run queue) caps it at ``1/n`` of the configured maximum, so
together they stay within it."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager


class AdaptiveLimiter:
    GROW_AFTER = 20  # successes before the limit grows by one (after the first 429)

    def __init__(self, maximum: int) -> None:
        self._configured = maximum
        self._maximum = maximum
        self._limit = maximum
        self._in_flight = 0
        self._successes = 0
        self._slow_start = False
        self._granted = 0  # slots granted so far
        self._hold_until = 0  # 429s are of the round already halved for until this many slots were granted
        self._cond = threading.Condition()
        self._tickets = itertools.count()
        self._waiting: dict[Hashable, list[int]] = {}  # owner → its waiting tickets, oldest first
        self._served: dict[Hashable, int] = {}  # owner → the grant number of its last slot

    @property
    def limit(self) -> int:
        return self._limit

    @contextmanager
    def slot(self, owner: Hashable = None) -> Iterator[None]:
        """Hold one of the ``limit`` slots; with other owners waiting, the one served longest ago goes first."""
        with self._cond:
            ticket = next(self._tickets)
            self._waiting.setdefault(owner, []).append(ticket)
            while self._in_flight >= self._limit or self._next_ticket() != ticket:
                self._cond.wait()
            tickets = self._waiting[owner]
            tickets.pop(0)
            if not tickets:
                del self._waiting[owner]
            self._in_flight += 1
            self._granted += 1
            self._served[owner] = self._granted
            if len(self._served) > 4 * len(self._waiting) + 64:  # forget owners long gone
                self._served = {o: n for o, n in self._served.items() if o in self._waiting or n > self._granted - 64}
            self._cond.notify_all()  # the next ticket may be free to go too
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _next_ticket(self) -> int:
        """The oldest ticket of the waiting owner whose last slot is the oldest (never served: first)."""
        owner = min(self._waiting, key=lambda o: (self._served.get(o, -1), self._waiting[o][0]))
        return self._waiting[owner][0]

    def throttled(self) -> None:
        with self._cond:
            if self._granted < self._hold_until:
                return
            self._hold_until = self._granted + self._in_flight
            self._limit = max(1, self._limit // 2)
            self._successes = 0
            self._slow_start = False

    def succeeded(self) -> None:
        with self._cond:
            self._successes += 1
            grow_after = 1 if self._slow_start else self.GROW_AFTER
            if self._successes >= grow_after and self._limit < self._maximum:
                self._limit += 1
                self._successes = 0
                self._cond.notify_all()

    def share(self, parts: int) -> None:
        """Keep to ``1/parts`` of the configured maximum (at least one slot): ``parts`` processes, each with its
        own limiter, read the connection at once. A smaller share applies at once to new slots; a larger one is
        grown into by successes."""
        with self._cond:
            self._maximum = max(1, self._configured // max(1, parts))
            self._limit = min(self._limit, self._maximum)
            self._cond.notify_all()

    @property
    def maximum(self) -> int:
        return self._maximum

    def hint(self, dop: int, *, ramp: bool = False) -> None:
        """Start from the server's recommended degree of parallelism (never above the maximum, the share);
        successes may take the limit above it, up to that maximum, one per success with ``ramp``."""
        with self._cond:
            self._limit = max(1, min(self._maximum, dop))
            self._successes = 0
            self._slow_start = ramp
            self._cond.notify_all()
