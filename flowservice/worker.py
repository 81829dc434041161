"""Workers claim queued runs and execute them; the same code runs as threads inside ``flowservice serve``
(embedded default) or as ``flowservice worker`` processes on any number of machines (scale-out on
PostgreSQL). A claim is kept alive by a heartbeat; a run whose worker died is taken over after
``stale_after`` seconds and resumes from its last commit."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import Any

from flowservice.services.engine import RunEngine
from flowservice.services.ports import Claim, RunQueue
from flowservice.services.scheduler import Scheduler

log = logging.getLogger("flowservice.worker")


class Worker:
    def __init__(self, engine: RunEngine, queue: RunQueue, *, stale_after: float, poll_interval: float = 0.5,
                 name: str | None = None) -> None:
        self.engine = engine
        self.queue = queue
        self.stale_after = stale_after
        self.poll_interval = poll_interval
        self.id = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()

    def run_once(self) -> bool:
        """Claim and execute one run; False when nothing was waiting."""
        claim = self.queue.claim(self.id, self.stale_after)
        if claim is None:
            return False
        self.execute(claim)
        return True

    def execute(self, claim: Claim) -> str:
        held = threading.Event()
        held.set()
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.stale_after / 4):
                if not self.queue.heartbeat(claim.run_id, self.id):
                    held.clear()
                    return

        beater = threading.Thread(target=beat, name=f"heartbeat-{claim.run_id[:8]}", daemon=True)
        beater.start()
        try:
            status = self.engine.execute(claim, lambda: held.is_set() and not self.stopping.is_set())
            if status == "lost" and self.stopping.is_set() and held.is_set():
                self.queue.requeue(claim.run_id)  # shut down mid-run: the next start resumes it at once
            return status
        finally:
            done.set()
            beater.join()

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


class Runtime:
    """A scheduler thread and ``workers`` worker threads of this process: what ``flowservice worker`` and each
    embedded child process of ``serve`` run (``flowservice.embedded``), or ``serve`` itself in thread mode."""

    def __init__(self, scheduler: Scheduler | None, workers: list[Worker], scheduler_interval: float) -> None:
        self.scheduler = scheduler
        self.workers = workers
        self.scheduler_interval = scheduler_interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._stop.clear()
        if self.scheduler is not None:
            self._threads.append(threading.Thread(target=self._schedule, name="scheduler", daemon=True))
        for index, worker in enumerate(self.workers):
            self._threads.append(threading.Thread(target=worker.serve, args=(self._stop,), name=f"worker-{index}",
                                                  daemon=True))
        for thread in self._threads:
            thread.start()

    def _schedule(self) -> None:
        assert self.scheduler is not None
        while not self._stop.is_set():
            try:
                created = self.scheduler.tick()
                if created:
                    log.info("scheduler queued %d run(s)", created)
            except Exception:
                log.exception("scheduler tick failed")
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
