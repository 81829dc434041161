"""``/ready``: the database answers a trivial query and the lake's root is reachable. A load balancer takes the
server out of rotation while a check fails. What failed is said in words an operator can act on; the details
(driver messages, paths, bucket names) are for operators only, since tenants reach this route too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    summary: str
    """What is wrong, without details of the infrastructure: safe to show anyone."""
    detail: str
    """Why, as the driver or the object store said it: for operators (and the log)."""


@dataclass(frozen=True)
class Readiness:
    ping_database: Callable[[], None]
    lake_problem: Callable[[], str | None]
    """None when the lake's root is reachable, else why not."""
    lake_cause: Callable[[str], str | None] = lambda _detail: None
    """The tenant-safe reading of the lake's answer (``lake.store_errors.cause``): no bucket, path or host."""

    def problems(self) -> list[Problem]:
        found = []
        try:
            self.ping_database()
        except Exception as exc:  # noqa: BLE001 - any failure is a reason not to be ready
            found.append(Problem("The database does not answer", f"{type(exc).__name__}: {_first_line(exc)}"))
        try:
            problem = self.lake_problem()
        except Exception as exc:  # noqa: BLE001 - likewise
            problem = f"{type(exc).__name__}: {_first_line(exc)}"
        if problem:
            cause = self.lake_cause(problem)
            found.append(
                Problem(f"The lake is not reachable: {cause}" if cause else "The lake is not reachable", problem)
            )
        return found


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no detail"
