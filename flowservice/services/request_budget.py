"""Budgets of requests that start costly work (``POST /runs`` queues a run a worker will spend minutes on):
per client and per org, counted in a sliding window with the token endpoint's ``FailureWindow``.

Each API server process counts its own requests: behind a load balancer of n servers, a client may reach n
times the budget. It is a guard against floods, not a quota."""

from __future__ import annotations

import time
from collections.abc import Callable

from flowservice.domain.errors import TooManyRequests
from flowservice.services.token_guard import FailureWindow, take_each


class RequestBudget:
    """At most ``per_client`` requests per client and ``per_org`` per org within any ``window`` seconds; 0
    turns a budget off."""

    def __init__(
        self,
        what: str,
        per_client: int,
        per_org: int,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.window = window
        self.clients = FailureWindow(per_client, window, clock=clock)
        self.orgs = FailureWindow(per_org, window, clock=clock)

    def take(self, org: str, client_id: str) -> None:
        """Count this request, or raise ``TooManyRequests`` (429, with Retry-After) when the caller's client
        or its org has spent its budget; a refused request is not counted."""
        wait = take_each(((self.clients, f"{org}/{client_id}"), (self.orgs, org)))
        if wait is not None:
            raise TooManyRequests(
                f"Too many {self.what} requests from this client or this organization within "
                f"{self.window:g} seconds; retry after {wait} seconds.",
                retry_after=wait,
            )
