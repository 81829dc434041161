"""Service protection API limits, enforced per user and per web server (reference §6.3).

Each web server keeps, for each user, a sliding window of the requests it admitted and of the execution time
they took. A request is refused with 429 when, at its arrival, the window already holds the request limit
(``0x80072322``) or the execution-time limit (``0x80072321``), or when the user already has the concurrency
limit in flight on that server (``0x80072326``). As Microsoft documents, the first two are evaluated after
the fact (a client may overrun them by what it has in flight), the third one immediately. ``Retry-After`` is
the number of seconds until the window has dropped below the limit that was hit (at least 1).

``Limits.scaled`` shortens the 5-minute window for tests, with the request and execution-time budgets
scaled in proportion (the concurrency limit is not a rate and stays). Only execution time is charged:
the time a response spends on the wire, or a request spends queued, is not (the app charges the modelled
cost when the cost model is on, else the handler's own time).

Statistics per (user, server) record what a benchmark needs to show the budget held: requests and
execution time per fixed window, the largest totals any sliding window reached, the peak concurrency and
the 429s answered by kind.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from crm_emulator.errors import THROTTLE_CONCURRENCY, THROTTLE_EXECUTION_TIME, THROTTLE_REQUESTS

REFERENCE_WINDOW_SECONDS = 300.0
REFERENCE_REQUESTS = 6000
REFERENCE_EXECUTION_SECONDS = 1200.0
REFERENCE_CONCURRENCY = 52
AFFINITY_COOKIE = "ARRAffinity"
MAX_WINDOW_RECORDS = 1000


@dataclass(frozen=True)
class Limits:
    """One web server's budget for one user."""

    window_seconds: float = REFERENCE_WINDOW_SECONDS
    requests: int = REFERENCE_REQUESTS
    execution_seconds: float = REFERENCE_EXECUTION_SECONDS
    concurrency: int = REFERENCE_CONCURRENCY

    @classmethod
    def scaled(cls, window_seconds: float, concurrency: int = REFERENCE_CONCURRENCY) -> Limits:
        """The reference budgets over a shorter (or longer) window, in proportion."""
        if window_seconds <= 0:
            raise ValueError("the protection window must be positive")
        factor = window_seconds / REFERENCE_WINDOW_SECONDS
        return cls(
            window_seconds,
            max(1, round(REFERENCE_REQUESTS * factor)),
            REFERENCE_EXECUTION_SECONDS * factor,
            concurrency,
        )

    def message(self, kind: str) -> tuple[str, str]:
        """The documented code and message of a limit, with this budget's figures."""
        window = _number(self.window_seconds)
        if kind == "requests":
            return (
                THROTTLE_REQUESTS,
                f"Number of requests exceeded the limit of {self.requests} over time window of {window} seconds.",
            )
        if kind == "execution_time":
            ms = f"{round(self.execution_seconds * 1000):,}"
            return (
                THROTTLE_EXECUTION_TIME,
                f"Combined execution time of incoming requests exceeded limit of {ms}  milliseconds over time "
                f"window of {window} seconds. Decrease number of concurrent requests or reduce the duration of "
                "requests and try again later.",
            )
        return THROTTLE_CONCURRENCY, f"Number of concurrent requests exceeded the limit of {self.concurrency}."

    def public(self) -> dict[str, float | int]:
        return {
            "window_seconds": self.window_seconds,
            "requests": self.requests,
            "execution_seconds": self.execution_seconds,
            "concurrency": self.concurrency,
        }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Throttle:
    """A refusal: which limit, and the ``Retry-After`` seconds."""

    kind: str
    retry_after: int


@dataclass
class Budget:
    """One user's sliding window on one web server, with its statistics."""

    limits: Limits
    origin: float
    admitted: deque[float] = field(default_factory=deque)
    executed: deque[tuple[float, float]] = field(default_factory=deque)
    window_execution: float = 0.0
    in_flight: int = 0
    requests: int = 0
    execution_seconds: float = 0.0
    peak_concurrency: int = 0
    throttled: Counter[str] = field(default_factory=Counter)
    max_window_requests: int = 0
    max_window_execution_seconds: float = 0.0
    windows: dict[int, list[float]] = field(default_factory=dict)

    def _purge(self, now: float) -> None:
        horizon = now - self.limits.window_seconds
        while self.admitted and self.admitted[0] <= horizon:
            self.admitted.popleft()
        while self.executed and self.executed[0][0] <= horizon:
            self.window_execution -= self.executed.popleft()[1]
        if not self.executed:
            self.window_execution = 0.0  # no float drift once the window is empty

    def _bucket(self, now: float) -> list[float]:
        index = int((now - self.origin) // self.limits.window_seconds)
        bucket = self.windows.get(index)
        if bucket is None:
            bucket = self.windows[index] = [0.0, 0.0]
            while len(self.windows) > MAX_WINDOW_RECORDS:
                del self.windows[min(self.windows)]
        return bucket

    def admit(self, now: float) -> Throttle | None:
        """Admit a request arriving at ``now`` (and count it in flight) or say which limit refuses it."""
        self._purge(now)
        limits = self.limits
        throttle: Throttle | None = None
        if self.in_flight >= limits.concurrency:
            throttle = Throttle("concurrency", 1)
        elif len(self.admitted) >= limits.requests:
            oldest_needed = self.admitted[len(self.admitted) - limits.requests]
            throttle = Throttle("requests", _seconds(oldest_needed + limits.window_seconds - now))
        elif self.window_execution >= limits.execution_seconds:
            throttle = Throttle("execution_time", _seconds(self._execution_clears_at() - now))
        if throttle is not None:
            self.throttled[throttle.kind] += 1
            return throttle
        self.admitted.append(now)
        self.requests += 1
        self.in_flight += 1
        self.peak_concurrency = max(self.peak_concurrency, self.in_flight)
        self.max_window_requests = max(self.max_window_requests, len(self.admitted))
        self._bucket(now)[0] += 1
        return None

    def _execution_clears_at(self) -> float:
        """When enough executions leave the window for its total to drop below the limit."""
        left = self.window_execution
        for ended, seconds in self.executed:
            left -= seconds
            if left < self.limits.execution_seconds:
                return ended + self.limits.window_seconds
        return self.executed[-1][0] + self.limits.window_seconds if self.executed else 0.0

    def charge(self, now: float, seconds: float) -> None:
        """A request admitted earlier finished executing at ``now`` after ``seconds`` of execution."""
        self._purge(now)
        self.executed.append((now, seconds))
        self.window_execution += seconds
        self.execution_seconds += seconds
        self.max_window_execution_seconds = max(self.max_window_execution_seconds, self.window_execution)
        self._bucket(now)[1] += seconds

    def release(self) -> None:
        self.in_flight -= 1

    def remaining(self, now: float) -> tuple[int, float]:
        """Requests and execution seconds left in the current window (the debug headers' values)."""
        self._purge(now)
        return (
            max(0, self.limits.requests - len(self.admitted)),
            max(0.0, self.limits.execution_seconds - self.window_execution),
        )

    def public(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "execution_seconds": round(self.execution_seconds, 6),
            "in_flight": self.in_flight,
            "peak_concurrency": self.peak_concurrency,
            "throttled": {kind: self.throttled.get(kind, 0) for kind in ("requests", "execution_time", "concurrency")},
            "max_window_requests": self.max_window_requests,
            "max_window_execution_seconds": round(self.max_window_execution_seconds, 6),
            "windows": [
                {
                    "start_seconds": index * self.limits.window_seconds,
                    "requests": int(bucket[0]),
                    "execution_seconds": round(bucket[1], 6),
                }
                for index, bucket in sorted(self.windows.items())
            ],
        }


def _seconds(delta: float) -> int:
    return max(1, math.ceil(delta))


class WebServers:
    """The org's web servers behind an ARR affinity cookie, each holding its own budgets.

    A request that brings the cookie of a known server goes to it; any other request is given the next
    server in turn and the cookie that sticks it there (a client that drops the cookie spreads over servers).
    """

    def __init__(self, count: int, limits: Limits, seed: int, origin: float) -> None:
        if count < 1:
            raise ValueError("at least one web server")
        self.limits = limits
        self.origin = origin
        self.names = [hashlib.sha256(f"crm_emulator web server {seed} {n}".encode()).hexdigest() for n in range(count)]
        self.by_cookie = {name: n for n, name in enumerate(self.names)}
        self.budgets: dict[tuple[str, int], Budget] = {}
        self._next = 0

    def pick(self, cookie: str | None) -> tuple[int, bool]:
        """The server for a request with this affinity cookie value, and whether to (re)issue the cookie."""
        if cookie is not None and cookie in self.by_cookie:
            return self.by_cookie[cookie], False
        server = self._next
        self._next = (self._next + 1) % len(self.names)
        return server, True

    def set_cookie(self, server: int, secure: bool) -> str:
        attributes = "; Secure" if secure else ""
        return f"{AFFINITY_COOKIE}={self.names[server]}; Path=/; HttpOnly{attributes}"

    def budget(self, user: str, server: int) -> Budget:
        key = (user, server)
        found = self.budgets.get(key)
        if found is None:
            found = self.budgets[key] = Budget(self.limits, self.origin)
        return found

    def reset(self, origin: float) -> None:
        self.origin = origin
        self.budgets = {}
        self._next = 0

    def public(self, labels: dict[str, str]) -> dict[str, Any]:
        return {
            "limits": self.limits.public(),
            "web_servers": [{"index": n, "affinity": name} for n, name in enumerate(self.names)],
            "budgets": [
                {"user": user, "label": labels.get(user, "other"), "server": server, **budget.public()}
                for (user, server), budget in sorted(self.budgets.items())
            ],
        }
