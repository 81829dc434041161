"""The embedded runtime in processes of its own: ``flowservice serve`` answers the API, and each embedded worker
(and the scheduler, beside the first worker) runs in a child process.

Why processes: a run converts pages, maps and commits in Python, and its threads held the interpreter lock the
server's event loop needs (a 200,000-row run took GET p99 from 26 ms to 1.7 s). A child has its own interpreter.

How the children are kept in line:

- **Stopping.** ``stop()`` sends SIGTERM, waits ``grace_seconds``, then SIGKILLs. A child stops its workers as a
  shutdown: a run in flight is put back in the queue and resumes from its last commit at the next start.
  Children ignore SIGINT: a Ctrl-C in a terminal reaches the whole process group, and the server decides.
- **The server dies.** Each child's stdin is a pipe whose only writer is the server: when the server ends, however
  it ends (SIGKILL included), the child reads end-of-file and stops as above, then exits within
  ``grace_seconds`` whatever happens. On Linux ``PR_SET_PDEATHSIG`` sends SIGTERM as well.
- **A child crashes.** The supervisor thread notices within ``poll_seconds`` and starts a new one (backing off
  when it keeps crashing at start). The crashed child's run is taken over once its claim goes stale
  (``FLOWSERVICE_RUN_STALE_SECONDS``) and resumes from its last commit.
- **Priority.** Children run ``FLOWSERVICE_WORKER_NICE`` steps nicer than the server, so that the kernel gives a
  contended core to the API first.
- **Logs.** Children write to the server's stdout and stderr, in the server's log format and level.
- **Settings.** The server's settings (flags included) reach the child as JSON through the pipe, never on the
  command line.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson

from flowservice.logging_setup import JsonFormatter, configure_logging
from flowservice.settings import Settings

log = logging.getLogger("flowservice.embedded")

CHILD_COMMAND = "from flowservice.embedded import child_main; child_main()"
_PR_SET_PDEATHSIG = 1


@dataclass
class _Child:
    name: str
    workers: int
    scheduler: bool
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    crashes: int = 0  # consecutive crashes soon after start
    start_after: float = 0.0


class ProcessRuntime:
    """The embedded scheduler and workers as child processes of the server, supervised by one thread."""

    def __init__(
        self,
        settings: Settings,
        *,
        workers: int,
        scheduler: bool,
        grace_seconds: float = 10.0,
        poll_seconds: float = 0.5,
    ) -> None:
        self.settings = settings
        self.grace_seconds = grace_seconds
        self.poll_seconds = poll_seconds
        self.children = [_Child(f"worker-{i}", 1, scheduler and i == 0) for i in range(workers)]
        if scheduler and not workers:
            self.children.append(_Child("scheduler", 0, True))
        self._stop = threading.Event()
        self._started = threading.Event()
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        """Start the children and return once each has been spawned (not once each is ready)."""
        self._stop.clear()
        self._started.clear()
        self._supervisor = threading.Thread(target=self._supervise, name="embedded-supervisor", daemon=True)
        self._supervisor.start()
        self._started.wait(30)

    def pids(self) -> list[int]:
        return [c.process.pid for c in self.children if c.process is not None and c.process.poll() is None]

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join((timeout or self.grace_seconds) + 10)
            self._supervisor = None

    def __enter__(self) -> ProcessRuntime:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ the supervisor thread
    def _supervise(self) -> None:
        # Every child is spawned from this thread, which lives as long as the runtime: PR_SET_PDEATHSIG fires
        # when the spawning *thread* ends, so spawning elsewhere would signal children too early.
        try:
            for child in self.children:
                self._spawn(child)
        finally:
            self._started.set()
        while not self._stop.wait(self.poll_seconds):
            try:
                self._restart_ended_children()
            except Exception:
                log.exception("supervising the embedded worker processes failed")
        self._stop_children()

    def _restart_ended_children(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                self._crashed(child, now)
            if child.process is None and now >= child.start_after:
                self._spawn(child)

    def _spawn(self, child: _Child) -> None:
        config = {
            "name": child.name,
            "workers": child.workers,
            "scheduler": child.scheduler,
            "settings": self.settings.model_dump(mode="json"),
            "grace_seconds": self.grace_seconds,
            "parent_pid": os.getpid(),
            **_logging_options(),
        }
        try:
            process = subprocess.Popen([sys.executable, "-c", CHILD_COMMAND], stdin=subprocess.PIPE)
            assert process.stdin is not None
            process.stdin.write(orjson.dumps(config) + b"\n")
            process.stdin.flush()  # the pipe stays open: it is the child's lifeline
        except OSError:
            log.exception("could not start the embedded %s process", child.name)
            child.start_after = time.monotonic() + 5
            return
        child.process, child.started_at = process, time.monotonic()
        log.info("embedded %s process started (pid %d)", child.name, process.pid)

    def _crashed(self, child: _Child, now: float) -> None:
        assert child.process is not None
        code = child.process.returncode
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
        _close_lifeline(child.process)
        child.crashes = child.crashes + 1 if now - child.started_at < 30 else 1
        delay = min(30.0, 0.5 * 2 ** (child.crashes - 1))
        log.warning(
            "embedded %s process (pid %d) ended with %s; starting a new one in %.1f s",
            child.name,
            child.process.pid,
            how,
            delay,
        )
        child.process, child.start_after = None, now + delay

    def _stop_children(self) -> None:
        running = [c.process for c in self.children if c.process is not None and c.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        deadline = time.monotonic() + self.grace_seconds + 2  # a child exits by itself within its grace
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning(
                    "embedded worker process %d did not stop in %.0f s; killing it", process.pid, self.grace_seconds
                )
                process.kill()
                process.wait()
        for child in self.children:
            if child.process is not None:
                _close_lifeline(child.process)
            child.process = None
        if running:
            log.info("embedded worker processes stopped")


def _close_lifeline(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()


def _logging_options() -> dict[str, str]:
    """The server's logging, so that a child's lines look like the server's own."""
    root = logging.getLogger()
    json_lines = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    return {"log_format": "json" if json_lines else "text", "log_level": logging.getLevelName(root.level)}


# ---------------------------------------------------------------------- the child process
def child_main() -> None:
    """Entry point of an embedded child: read its configuration from stdin, run until told to stop."""
    config = orjson.loads(sys.stdin.buffer.readline() or b"{}")
    if not config:
        sys.exit("flowservice.embedded: started without a configuration (the server starts these processes)")
    configure_logging(config["log_format"], config["log_level"])
    name, grace = config["name"], float(config["grace_seconds"])
    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The handler only records the signal: setting the Event there takes its lock, and a second SIGTERM (the
    # server's, then PR_SET_PDEATHSIG's) arriving inside the first handler deadlocked the process for good.
    terminated: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: terminated.append(signum))
    _die_with_parent(int(config["parent_pid"]))
    threading.Thread(target=_watch_lifeline, args=(stop,), name="lifeline", daemon=True).start()

    settings = Settings(**config["settings"])
    if settings.worker_nice:
        os.nice(settings.worker_nice)

    from flowservice.bootstrap import build

    container = build(settings)
    runtime = container.runtime(scheduler=config["scheduler"], workers=config["workers"], mode="thread")
    runtime.start()
    log.info("embedded %s running (pid %d)", name, os.getpid())
    while not terminated and not stop.wait(0.5):
        pass
    # Whatever happens next, this process is gone within the grace period (the server may be gone already).
    deadline = threading.Timer(grace, os._exit, (3,))
    deadline.daemon = True
    deadline.start()
    runtime.stop(grace)
    container.close()
    log.info("embedded %s stopped (pid %d)", name, os.getpid())
    logging.shutdown()
    os._exit(0)  # worker threads that outlived the stop (a source read in flight) must not hold the exit


def _watch_lifeline(stop: threading.Event) -> None:
    """Block on stdin until end-of-file: the server closed the pipe, or the server is gone."""
    with contextlib.suppress(OSError, ValueError):
        while sys.stdin.buffer.read(65536):
            pass
    if not stop.is_set():
        log.warning("the server went away; stopping")
        stop.set()


def _die_with_parent(parent_pid: int) -> None:
    """On Linux, ask the kernel for SIGTERM when the server ends (the lifeline pipe covers other systems)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the server ended before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
