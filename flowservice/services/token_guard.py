"""Failed token requests, counted per client id and per remote address, so that guessing secrets (or
flooding the endpoint with wrong ones to burn CPU on scrypt) is refused before any hash is computed."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from flowservice.domain.errors import FlowServiceError


class TooManyFailures(FlowServiceError):
    status = 429
    code = "2116"
    title = "Too many requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FailureWindow:
    """At most ``limit`` failures per key within any ``window`` seconds (a sliding window of timestamps).

    Memory is bounded: a key keeps at most ``limit`` timestamps, and past ``max_keys`` keys the expired ones
    are dropped, then the oldest.
    """

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 50_000
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may fail again, or None when it is within its budget."""
        with self._lock:
            return self._wait(key)

    def take(self, key: str) -> int | None:
        """Count a failure for ``key`` now, unless its budget is spent (then return the seconds to wait).
        Taken before the outcome is known, so that concurrent attempts cannot overrun the budget."""
        if self.limit <= 0:
            return None
        with self._lock:
            wait = self._wait(key)
            if wait is None:
                self._stamps(key).append(self._clock())
            return wait

    def give_back(self, key: str) -> None:
        """Undo one ``take``: the attempt succeeded."""
        with self._lock:
            stamps = self._failures.get(key)
            if stamps:
                stamps.pop()

    def fail(self, key: str) -> None:
        if self.limit <= 0:
            return
        with self._lock:
            self._stamps(key).append(self._clock())

    def _wait(self, key: str) -> int | None:
        stamps = self._failures.get(key)
        if self.limit <= 0 or stamps is None:
            return None
        now = self._clock()
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if len(stamps) < self.limit:
            return None
        return max(1, math.ceil(stamps[0] + self.window - now))

    def _stamps(self, key: str) -> deque[float]:
        stamps = self._failures.get(key)
        if stamps is None:
            if len(self._failures) >= self._max_keys:
                self._evict()
            stamps = self._failures[key] = deque(maxlen=self.limit)
        return stamps

    def _evict(self) -> None:
        horizon = self._clock() - self.window
        for key in [k for k, v in self._failures.items() if not v or v[-1] <= horizon]:
            del self._failures[key]
        while len(self._failures) >= self._max_keys:
            del self._failures[next(iter(self._failures))]


def take_each(budgets: Iterable[tuple[FailureWindow, str]]) -> int | None:
    """Take one from every (window, key) budget, or from none: when any is spent, the ones taken are given
    back and the longest wait is returned (so a refused request costs no budget)."""
    taken: list[tuple[FailureWindow, str]] = []
    waits: list[int] = []
    for window, key in budgets:
        wait = window.take(key)
        if wait is None:
            taken.append((window, key))
        else:
            waits.append(wait)
    if not waits:
        return None
    for window, key in taken:
        if window.limit > 0:
            window.give_back(key)
    return max(waits)


class TokenGuard:
    """The failure budgets of the token endpoint: one per client id, one per remote address."""

    def __init__(
        self, per_client: int, per_address: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clients = FailureWindow(per_client, window, clock=clock)
        self.addresses = FailureWindow(per_address, window, clock=clock)

    def attempt(self, client_id: str, address: str) -> None:
        """Count this attempt against both budgets, or raise ``TooManyFailures`` when either is spent (before
        any secret is hashed). Call ``succeeded`` when the secret was right."""
        wait = take_each(((self.clients, client_id), (self.addresses, address)))
        if wait is not None:
            raise TooManyFailures(
                f"Too many failed token requests for this client or from this address; retry after {wait} seconds.",
                retry_after=wait,
            )

    def succeeded(self, client_id: str, address: str) -> None:
        self.clients.give_back(client_id)
        self.addresses.give_back(address)

    def failed(self, client_id: str, address: str) -> None:
        """Count a failure that was not taken through ``attempt``."""
        self.clients.fail(client_id)
        self.addresses.fail(address)
