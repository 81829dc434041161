"""Adaptive concurrency per connection, for remote APIs that ask clients to "let the server tell you how much it
can handle" (Dataverse limits each user to 52 concurrent requests per web server). The limit starts at the
configured maximum (lowered to the server's hint when it gives one, e.g. Dataverse's ``x-ms-dop-hint``), halves
on every 429, and grows back by one after a run of successes (AIMD). A source shares one limiter between every
client of the same connection in the process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class AdaptiveLimiter:
    GROW_AFTER = 20  # successes before the limit grows by one

    def __init__(self, maximum: int) -> None:
        self._configured = maximum
        self._maximum = maximum
        self._limit = maximum
        self._in_flight = 0
        self._successes = 0
        self._cond = threading.Condition()

    @property
    def limit(self) -> int:
        return self._limit

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            while self._in_flight >= self._limit:
                self._cond.wait()
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify()

    def throttled(self) -> None:
        with self._cond:
            self._limit = max(1, self._limit // 2)
            self._successes = 0

    def succeeded(self) -> None:
        with self._cond:
            self._successes += 1
            if self._successes >= self.GROW_AFTER and self._limit < self._maximum:
                self._limit += 1
                self._successes = 0
                self._cond.notify()

    def hint(self, dop: int) -> None:
        """Apply the server's recommended degree of parallelism (never above the configured maximum)."""
        with self._cond:
            self._maximum = max(1, min(self._configured, dop))
            self._limit = min(self._limit, self._maximum)
