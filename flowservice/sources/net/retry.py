"""The retry policy every HTTP source shares: which answers are worth another attempt, how long to wait before
it, and when to give up. Each source decides what its remote's errors mean; this module only does the sums.

Retried statuses are 429 and 500/502/503/504. A ``Retry-After`` (seconds or an HTTP date) is honoured with a
little jitter, up to ``max_retry_after``; without one the wait is jittered exponential backoff (half to all of
``backoff_base * 2**(attempt-1)``, capped at ``backoff_cap``). One call makes at most ``max_retries`` more
attempts and waits at most ``max_wait_seconds`` in total between them.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

import httpx

from flowservice.domain.errors import SourceError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    backoff_base: float
    backoff_cap: float
    max_retry_after: float
    max_wait_seconds: float

    def exhausted(self, attempt: int) -> bool:
        """Attempt ``attempt`` (1 is the first) failed: is it the last one allowed?"""
        return attempt > self.max_retries

    def too_long(self, retry_after: float | None) -> bool:
        """A ``Retry-After`` this long fails the call (retryable later) instead of blocking it."""
        return (retry_after or 0) > self.max_retry_after

    def delay(
        self, attempt: int, retry_after: float | None, why: str, waited: float, error: type[SourceError]
    ) -> float:
        """Seconds to wait before the attempt after ``attempt``; raises ``error`` when waiting that long would
        take the call past ``max_wait_seconds`` of waiting (``waited`` so far)."""
        if retry_after is not None:
            delay = retry_after + random.uniform(0, min(1.0, 0.1 * retry_after))
        else:
            ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
            delay = random.uniform(ceiling / 2, ceiling)
        if waited + delay > self.max_wait_seconds:
            raise error(
                f"{why}; gave up after {attempt} attempts and {waited:.0f} s of waiting (the limit is "
                f"{self.max_wait_seconds:g} s)"
            )
        return delay
