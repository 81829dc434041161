"""RunMetrics: what the engine reports as a run goes, for an operator's metrics system (Prometheus in
``flowservice/observability``). Counts are of work done by this process, reported as it happens, so a
scrape during a run sees them move; the metrics system adds up the processes."""

from __future__ import annotations

from typing import Protocol


class RunMetrics(Protocol):
    def pages_read(self, org: str, rows: int, failed: int, throttled: int, throttled_seconds: float) -> None:
        """A page of ``rows`` rows was read, ``failed`` of them refused (row errors); the source answered
        ``throttled`` 429s while reading it and the reads waited ``throttled_seconds`` for them."""

    def committed(self, org: str, written: int, deleted: int) -> None:
        """A commit landed (never called for a commit that landed nothing of ours)."""

    def run_ended(self, org: str, status: str, seconds: float) -> None:
        """A run ended with ``status`` (success, partialSuccess, failed) after ``seconds`` since its start."""


class NoMetrics:
    """Reports nowhere: the engine's default, for tests and tools that have no metrics system."""

    def pages_read(self, org: str, rows: int, failed: int, throttled: int, throttled_seconds: float) -> None:
        return None

    def committed(self, org: str, written: int, deleted: int) -> None:
        return None

    def run_ended(self, org: str, status: str, seconds: float) -> None:
        return None
