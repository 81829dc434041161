"""Where a source reports each request it sends (its status and latency) for the operator's metrics.

Sources know no metrics system: they call ``request``; ``bootstrap`` installs the observer (Prometheus, in
``flowservice/observability``) once per process. With none installed, reports go nowhere."""

from __future__ import annotations

from typing import Protocol


class RequestObserver(Protocol):
    def __call__(self, source: str, status: str, seconds: float) -> None:
        """``status``: the HTTP status code as text, or ``error`` when no answer came (connection, timeout)."""


def _nowhere(source: str, status: str, seconds: float) -> None:
    return None


_observer: RequestObserver = _nowhere


def install(observer: RequestObserver) -> None:
    global _observer
    _observer = observer


def request(source: str, status: str, seconds: float) -> None:
    """Report one request to ``source`` (a short fixed name such as ``dynamics``, never a URL or an org)."""
    try:
        _observer(source, status, seconds)
    except Exception:  # noqa: BLE001 - a metrics problem must never fail a read
        return
