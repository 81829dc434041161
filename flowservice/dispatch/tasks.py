"""The procrastinate tasks of ``flowservice worker`` (``FLOWSERVICE_QUEUE=procrastinate``), and the worker loop.

- ``flowservice.run_flow(run_id)``: the targeted claim of the run (a new attempt, which fences any earlier
  holder) and its execution by the ordinary ``Worker``/``RunEngine`` path. A run whose flow is busy with another
  run is retried shortly; any other exception (the database unreachable) with a capped backoff, forever: the
  run must not be dropped.
- Periodic tasks, on a queue of their own served by a one-slot worker of each process, so that long runs
  filling every run slot never delay them: the scheduler's tick, the recovery of stalled jobs, housekeeping.
  Every worker process defers them; procrastinate defers each timestamp once, and a queueing lock keeps one
  waiting at most.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from procrastinate import App, BaseRetryStrategy, JobContext, RetryDecision
from procrastinate.jobs import Job
from procrastinate.worker import Worker as ProcrastinateWorker

from flowservice.dispatch.procrastinate_queue import PERIODIC_QUEUE, RUN_TASK, RUNS_QUEUE
from flowservice.ports import FlowBusy

log = logging.getLogger("flowservice.dispatch")


@dataclass
class Jobs:
    """What the tasks call, wired by ``bootstrap``: the dispatch layer knows no service."""

    run: Callable[[str, str], str]  # (run id, job tag) → final status; raises FlowBusy
    tick: Callable[[], int]
    recover: Callable[[], list[str]]
    tick_every: float
    recover_every: float
    housekeeping: Sequence[tuple[float, Callable[[], object]]] = field(default_factory=list)


class Backoff(BaseRetryStrategy):
    """Retry forever: soon when the flow is busy, else doubling up to ``cap`` seconds.

    A busy flow's job also steps back one priority each time: procrastinate lets no job of a lock start while
    another job of that lock waits with a higher priority (whatever its retry time), so without the step a job
    retried for a busy flow could forever keep the job of the run that holds the flow from starting."""

    def __init__(self, busy_wait: int = 1, cap: int = 60) -> None:
        self.busy_wait = busy_wait
        self.cap = cap

    def wait_seconds(self, exception: BaseException, attempts: int) -> int:
        if isinstance(exception, FlowBusy):
            return self.busy_wait
        return min(self.cap, 1 << min(attempts, 8))

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        priority = job.priority - 1 if isinstance(exception, FlowBusy) else None
        return RetryDecision(retry_in={"seconds": self.wait_seconds(exception, job.attempts)}, priority=priority)


def cron_every(seconds: float) -> str:
    """A cron expression (procrastinate's optional sixth field is seconds) firing about every ``seconds``."""
    whole = max(1, round(seconds))
    if whole < 60:
        return f"* * * * * */{whole}"
    if whole < 3600:
        return f"*/{min(59, whole // 60)} * * * *"
    return f"0 */{min(23, whole // 3600)} * * *"


def register(app: App, jobs: Jobs) -> App:
    """Add flowservice's tasks to ``app``."""

    @app.task(name=RUN_TASK, queue=RUNS_QUEUE, pass_context=True, retry=Backoff())
    def run_flow(context: JobContext, run_id: str) -> str:
        return jobs.run(run_id, f"job{context.job.id}")

    def periodic(name: str, every: float, call: Callable[[], object]) -> None:
        @app.periodic(cron=cron_every(every), periodic_id=name)
        @app.task(name=f"flowservice.{name}", queue=PERIODIC_QUEUE, queueing_lock=f"flowservice.{name}")
        def task(timestamp: int) -> None:
            result = call()
            if result:
                log.info("%s: %s", name, result)

    periodic("tick", jobs.tick_every, jobs.tick)
    periodic("recover_stalled", jobs.recover_every, jobs.recover)
    for index, (every, call) in enumerate(jobs.housekeeping):
        periodic(f"housekeeping_{index}", every, call)
    return app


async def serve(
    app: App, *, concurrency: int, heartbeat: float, stalled_after: float, on_stop: Callable[[], None]
) -> None:
    """Run ``concurrency`` runs at once until SIGTERM or SIGINT. A stop first calls ``on_stop`` (the runs in
    flight stop at their next fence and are handed back: released and deferred again, one transaction), then
    lets procrastinate finish those jobs and unregister. If either procrastinate worker fails, the process stops
    the same way and raises its error (a supervisor restarts it)."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=concurrency + 4, thread_name_prefix="job"))
    async with app.open_async():

        def worker(queue: str, slots: int, delete_jobs: str) -> ProcrastinateWorker:
            return ProcrastinateWorker(
                app,
                queues=[queue],
                concurrency=slots,
                name=queue,
                delete_jobs=delete_jobs,
                install_signal_handlers=False,
                update_heartbeat_interval=heartbeat,
                stalled_worker_timeout=stalled_after,
            )

        # a run's job is kept (its history, pruned with the run); a periodic job that succeeded is not
        runs, periodic = worker(RUNS_QUEUE, concurrency, "never"), worker(PERIODIC_QUEUE, 1, "successful")

        def stop() -> None:
            log.info("stopping: runs in flight go back to the queue and resume elsewhere")
            on_stop()
            runs.stop()  # type: ignore[no-untyped-call]
            periodic.stop()  # type: ignore[no-untyped-call]

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        both = [asyncio.ensure_future(w.run()) for w in (runs, periodic)]  # type: ignore[no-untyped-call]
        await asyncio.wait(both, return_when=asyncio.FIRST_EXCEPTION)
        failed = [t.exception() for t in both if t.done() and not t.cancelled() and t.exception() is not None]
        if failed:  # e.g. this worker was unregistered while frozen: hand the runs back, exit with the error
            log.error("a procrastinate worker of this process failed; stopping", exc_info=failed[0])
            stop()
            await asyncio.gather(*both, return_exceptions=True)
            raise failed[0]  # type: ignore[misc]
