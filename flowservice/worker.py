"""Workers claim queued runs and execute them; the same code runs in the child processes that
``flowservice serve`` supervises (embedded default, ``flowservice/embedded.py``), as threads of the server
(``FLOWSERVICE_WORKER_MODE=thread``), or as ``flowservice worker`` processes on any number of machines
(scale-out on PostgreSQL). A claim is kept alive by a heartbeat; a run whose worker died is taken over after
``stale_after`` seconds and resumes from its last commit."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from flowservice.domain import log_context
from flowservice.ports import Claim, RunQueue, TargetedClaims

log = logging.getLogger("flowservice.worker")


class Engine(Protocol):
    """What executes a claimed run (``services.runs.RunEngine``)."""

    def execute(self, claim: Claim, still_ours: Callable[[], bool]) -> str:
        """The run's final status, or ``lost`` when it stopped being this worker's."""


class Ticks(Protocol):
    """What queues due runs (``services.runs.Scheduler``)."""

    def tick(self) -> int:
        """How many runs were queued."""


class Worker:
    """Claims runs one at a time and executes them under a heartbeat.

    The heartbeat renews the claim every ``stale_after / BEATS_PER_STALE`` seconds and survives transient
    errors (a locked SQLite file, a reset PostgreSQL connection): it logs them and tries again soon. The run
    counts as ours only while the last successful renewal is younger than ``SAFE_FRACTION`` of
    ``stale_after``: a worker that cannot renew stops writing well before another worker may take over.
    """

    BEATS_PER_STALE = 6
    SAFE_FRACTION = 0.5
    RETRY_FRACTION = 0.05  # after a failed renewal, try again this share of stale_after later

    def __init__(
        self,
        engine: Engine,
        queue: RunQueue,
        *,
        stale_after: float,
        poll_interval: float = 0.5,
        name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        share: Callable[[str, int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.queue = queue
        self.share = share
        self.stale_after = stale_after
        self.poll_interval = poll_interval
        self.id = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self.clock = clock

    def run_once(self) -> bool:
        """Claim and execute one run; False when nothing was waiting."""
        asked = self.clock()  # the claim's stamp is at least this recent
        claim = self.queue.claim(self.id, self.stale_after)
        if claim is None:
            return False
        self.execute(claim, claimed_at=asked)
        return True

    def run_claimed(self, run_id: str, claims: TargetedClaims, job: str) -> str:
        """Claim ``run_id`` for a dispatcher's ``job`` (procrastinate mode) and execute it like a polled run;
        ``ended`` when the run had ended already. ``FlowBusy`` passes through (the job is tried again later),
        and so does a run stopped mid-way that could not be handed back: the job must not end as if it had."""
        asked = self.clock()
        claim = claims.claim_run(run_id, f"{self.id}/{job}")
        if claim is None:
            return "ended"
        status = self.execute(claim, claimed_at=asked)
        if status == "lost" and self.queue.holds(claim):
            raise RuntimeError(f"run {run_id} stopped mid-way and could not be handed back; its job is retried")
        return status

    def execute(self, claim: Claim, *, claimed_at: float | None = None) -> str:
        start = self.clock() if claimed_at is None else claimed_at
        hold = _Hold(start, self.stale_after * self.SAFE_FRACTION, self.clock)
        done = threading.Event()
        beater = threading.Thread(
            target=self._beat, args=(claim, hold, done), name=f"heartbeat-{claim.run_id[:8]}", daemon=True
        )
        beater.start()
        context = log_context.bound(run_id=claim.run_id, flow_id=claim.flow_id, org=claim.org, sandbox=claim.sandbox)
        try:
            with context:  # the run's log lines name it, its flow and its tenant
                status = self.engine.execute(claim, lambda: hold.fresh() and not self.stopping.is_set())
                if status == "lost":
                    self._release(claim)
            return status
        finally:
            done.set()
            beater.join()

    def _release(self, claim: Claim) -> None:
        """The engine stopped without the run ending: shut down mid-run, or its view of the heartbeat went
        stale. If the claim still holds (fenced), queue the run again so it resumes at once rather than after
        ``stale_after``; a run taken over or cancelled is left alone."""
        try:
            if self.queue.release(claim):
                log.info("worker %s: run %s queued again; it resumes from its last commit", self.id, claim.run_id)
        except Exception:
            log.warning(
                "worker %s: could not queue run %s again; it resumes once its claim is stale",
                self.id,
                claim.run_id,
                exc_info=True,
            )

    def _beat(self, claim: Claim, hold: _Hold, done: threading.Event) -> None:
        interval = self.stale_after / self.BEATS_PER_STALE
        wait = interval
        self._share(claim)
        while not done.wait(wait):
            sent = self.clock()  # a renewal counts from before it was sent: the database stamps it then or later
            try:
                renewed = self.queue.heartbeat(claim)
            except Exception:  # a transient database error must not end the heartbeat
                log.warning(
                    "worker %s: renewing the claim of run %s failed; retrying", self.id, claim.run_id, exc_info=True
                )
                wait = max(0.05, self.stale_after * self.RETRY_FRACTION)
                continue
            if not renewed:
                log.warning(
                    "worker %s: run %s is no longer ours (taken over, finished or cancelled)", self.id, claim.run_id
                )
                hold.lose()
                return
            hold.renewed(sent)
            self._share(claim)
            wait = interval

    def _share(self, claim: Claim) -> None:
        """Tell the sources how many worker processes read the run's connection now, so that each keeps to its
        share of the connection's limits (one Dataverse user's 52 concurrent requests, whoever sends them)."""
        if self.share is None:
            return
        try:
            connection_id, processes = self.queue.connection_readers(claim, self.stale_after)
            if connection_id:
                self.share(connection_id, processes)
        except Exception:  # pacing is advice: a failed count must not end the heartbeat
            log.warning(
                "worker %s: counting the readers of run %s's connection failed", self.id, claim.run_id, exc_info=True
            )

    def serve(self, stop: threading.Event) -> None:
        log.info("worker %s started", self.id)
        self.stopping = stop
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception:
                log.exception("worker %s: claiming or running failed", self.id)
                worked = False
            if not worked:
                stop.wait(self.poll_interval)


class _Hold:
    """What the worker knows of its claim: when it was last renewed, and whether it was lost for sure."""

    def __init__(self, renewed_at: float, safe_for: float, clock: Callable[[], float]) -> None:
        self._renewed_at = renewed_at
        self._safe_for = safe_for
        self._clock = clock
        self._lost = False
        self._lock = threading.Lock()

    def renewed(self, at: float) -> None:
        with self._lock:
            self._renewed_at = max(self._renewed_at, at)

    def lose(self) -> None:
        with self._lock:
            self._lost = True

    def fresh(self) -> bool:
        with self._lock:
            return not self._lost and self._clock() - self._renewed_at < self._safe_for


class Runtime:
    """A scheduler thread and ``workers`` worker threads of this process: what ``flowservice worker`` and each
    embedded child process of ``serve`` run (``flowservice.embedded``), or ``serve`` itself in thread mode."""

    def __init__(
        self,
        scheduler: Ticks | None,
        workers: list[Worker],
        scheduler_interval: float,
        housekeeping: Sequence[tuple[float, Callable[[], object]]] = (),
    ) -> None:
        self.scheduler = scheduler
        self.workers = workers
        self.scheduler_interval = scheduler_interval
        self.housekeeping = list(housekeeping)  # (every seconds, task), run by the scheduler thread
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._stop.clear()
        if self.scheduler is not None:
            self._threads.append(threading.Thread(target=self._schedule, name="scheduler", daemon=True))
        for index, worker in enumerate(self.workers):
            self._threads.append(
                threading.Thread(target=worker.serve, args=(self._stop,), name=f"worker-{index}", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def _schedule(self) -> None:
        assert self.scheduler is not None
        due = [time.monotonic()] * len(self.housekeeping)
        while not self._stop.is_set():
            try:
                created = self.scheduler.tick()
                if created:
                    log.info("scheduler queued %d run(s)", created)
            except Exception:
                log.exception("scheduler tick failed")
            for index, (every, task) in enumerate(self.housekeeping):
                if time.monotonic() >= due[index]:
                    due[index] = time.monotonic() + every
                    try:
                        task()
                    except Exception:
                        log.exception("housekeeping task failed")
            self._stop.wait(self.scheduler_interval)

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def __enter__(self) -> Runtime:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
