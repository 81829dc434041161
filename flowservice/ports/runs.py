"""The run ports, one per role: the queue workers claim from, the run documents they update under their
claim, the schedules the scheduler reads, and the row errors of a run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from flowservice.domain.tenancy import Tenant
from flowservice.ports.resources import Stored


@dataclass(frozen=True)
class Claim:
    """A worker's hold on a run. ``attempt`` grows by one with every claim of the run: it is the fencing
    token, so a worker presumed dead (``worker``, ``attempt``) can no longer change what a newer claim owns."""

    run_id: str
    flow_id: str
    org: str
    sandbox: str
    attempt: int
    worker: str = ""


def worker_process(worker_id: str) -> str:
    """The process a worker id names. Workers are named ``<process>:<tag>`` (``worker.py``: ``host:pid:tag``),
    a dispatcher's job adds ``/<job>``; an id without a tag is a process of its own."""
    base = worker_id.partition("/")[0]
    process, sep, _ = base.rpartition(":")
    return process if sep else base


class RunQueue(Protocol):
    """Durable hand-off of runs to workers (embedded threads or ``flowservice worker`` processes)."""

    def enqueue(
        self,
        kind: str,
        tenant: Tenant,
        run_id: str,
        flow_id: str,
        doc: dict[str, Any],
        window: tuple[int, int] | None,
        connection_id: str = "",
    ) -> bool:
        """Store the run document and queue it in one transaction. With a schedule ``window`` (start, end)
        the window is recorded too, and a window already fired makes the call a no-op (returns False).
        ``connection_id`` is the flow's base connection, which the per-connection limit counts by."""

    def claim(self, worker_id: str, stale_after_seconds: float) -> Claim | None:
        """Take a running run whose worker stopped heart-beating ``stale_after_seconds`` ago (it resumes from
        its last commit), else a queued run whose flow has no running run, fairly across orgs and within the
        limits of running runs per org and per connection (the org with the fewest running runs, then the one
        served least recently; the oldest run of it)."""

    def heartbeat(self, claim: Claim) -> bool:
        """Refresh the claim; False when the run is no longer held by it (taken over, finished, cancelled)."""

    def holds(self, claim: Claim) -> bool:
        """Whether ``claim`` still holds its run (the fence checked before every write)."""

    def finish(self, claim: Claim) -> bool:
        """Mark the run done if ``claim`` still holds it; False (and nothing changed) otherwise."""

    def release(self, claim: Claim) -> bool:
        """Put a run this claim holds back in the queue (a worker shutting down mid-run)."""

    def requeue(self, run_id: str) -> None:
        """Queue a finished run again (re-trigger of a failed run)."""

    def connection_readers(self, claim: Claim, fresh_within_seconds: float) -> tuple[str, int]:
        """The claim's base connection, and how many worker processes (``worker_process``; the claim's own
        among them) hold running runs of it with a heartbeat younger than ``fresh_within_seconds``; ``("", 1)``
        when the run's connection is not known."""

    def cancel_flow(self, flow_id: str) -> list[str]:
        """End every queued or running run of the flow (the flow is being deleted): a running one stops at
        its next fence check without writing. Returns the run ids."""


class RunDocuments(Protocol):
    """Run documents written under the claim that holds the run (the fence of every document update)."""

    def update_run(self, claim: Claim, doc: dict[str, Any], if_etag: str) -> Stored | None:
        """Replace the run document if ``claim`` still holds the run and its etag is ``if_etag``, in one
        transaction; None when the claim is lost. Raises ``PreconditionFailed`` on an etag mismatch."""


class Schedules(Protocol):
    """What the scheduler needs: every flow across tenants and the last window each one fired."""

    def all_of_kind(self, kind: str) -> list[tuple[Tenant, Stored]]:
        """Every resource of ``kind`` across tenants, with its tenant (for the scheduler)."""

    def last_window_end(self, flow_id: str) -> int | None: ...


class RunErrors(Protocol):
    """Row errors of a run: kept up to a limit, read back in pages."""

    def add_errors(self, run_id: str, errors: list[tuple[str, str, str]], limit: int) -> None:
        """Keep row errors (code, message, record JSON), at most ``limit`` per run."""

    def errors(self, run_id: str, start: int, limit: int) -> list[dict[str, Any]]: ...


class FlowBusy(Exception):
    """A targeted claim found another run of the same flow running: the run must wait and be tried again."""


class TargetedClaims(Protocol):
    """Claims of one named run, for a dispatcher that hands runs to workers itself (procrastinate's jobs)."""

    def claim_run(self, run_id: str, worker_id: str) -> Claim | None:
        """Take ``run_id`` whatever claim held it before (attempt + 1, so that claim is fenced), if it is queued
        or running; None when it has ended (done, cancelled) or does not exist. Raises ``FlowBusy`` when
        another run of its flow is running."""
