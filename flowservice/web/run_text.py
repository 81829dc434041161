"""How runs and schedules read on screen: a run's status as icon plus words (never colour alone), its
counters and rates, a flow's schedule in words and its next window. Pure functions over the API's documents
(the UI knows the API only as JSON, so nothing here imports the server's schedule code)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

FINAL = frozenset({"success", "partialSuccess", "failed"})
_STATUS = {
    "success": ("✓", "Succeeded", "ok"),
    "partialSuccess": ("◐", "Partially succeeded", "warn"),
    "failed": ("✗", "Failed", "bad"),
    "inProgress": ("⟳", "Running", "running"),
    "scheduled": ("⏱", "Queued", "muted"),
}
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}


@dataclass(frozen=True)
class Status:
    code: str
    icon: str
    text: str
    tone: str
    """A class of ``app.css`` (``status-ok``…); the icon and text carry the meaning on their own."""

    @property
    def final(self) -> bool:
        return self.code in FINAL


def status_of(code: str | None) -> Status:
    found = _STATUS.get(code or "")
    if found is None:
        return Status(code or "unknown", "•", code or "Unknown", "muted")
    return Status(code or "", *found)


def run_status(run: dict[str, Any]) -> Status:
    return status_of(((run.get("metrics") or {}).get("statusSummary") or {}).get("status"))


@dataclass(frozen=True)
class Counts:
    read: int
    written: int
    deleted: int
    failed: int
    commits: int
    started: int | None
    completed: int | None
    bytes_out: int

    def elapsed_ms(self, now_ms: int | None = None) -> int | None:
        if self.started is None:
            return None
        end = self.completed or now_ms or int(time.time() * 1000)
        return max(0, end - self.started)

    def average_rate(self, now_ms: int | None = None) -> float | None:
        elapsed = self.elapsed_ms(now_ms)
        return self.read * 1000 / elapsed if elapsed else None


def counts_of(run: dict[str, Any]) -> Counts:
    metrics = run.get("metrics") or {}
    records = metrics.get("recordSummary") or {}
    duration = metrics.get("durationSummary") or {}
    return Counts(
        read=int(records.get("inputRecordCount") or 0),
        written=int(records.get("outputRecordCount") or 0),
        deleted=int(records.get("deletedRecordCount") or 0),
        failed=int(records.get("failedRecordCount") or 0),
        commits=int((metrics.get("fileSummary") or {}).get("outputFileCount") or 0),
        started=duration.get("startedAtUTC"),
        completed=duration.get("completedAtUTC"),
        bytes_out=int((metrics.get("sizeSummary") or {}).get("outputBytes") or 0),
    )


def duration_words(ms: int | None) -> str:
    if ms is None:
        return "–"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def _epoch_seconds(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number // 1000 if number >= 10**11 else number


def schedule_words(params: dict[str, Any] | None) -> str:
    """``Every 15 minutes from 2026-12-01 09:00 UTC``; ``Once, at …`` for a one-time flow."""
    params = params or {}
    start = _epoch_seconds(params.get("startTime"))
    frequency = str(params.get("frequency") or "once").lower()
    since = f" from {_utc(start)}" if start is not None else ""
    if frequency == "once":
        return f"Once{', at ' + _utc(start) if start is not None else ''}"
    try:
        interval = int(params.get("interval") or 1)
    except (TypeError, ValueError):
        interval = 1
    unit = frequency if interval == 1 else frequency + "s"
    every = f"Every {unit}" if interval == 1 else f"Every {interval} {unit}"
    backfill = str(params.get("backfill", "true")).lower() != "false"
    return every + since + ("" if backfill else ", without backfill")


def next_window(params: dict[str, Any] | None, now: float | None = None) -> int | None:
    """The epoch second of the flow's next window end (when its next run is due), or None for a one-time
    flow whose time has passed. Windows end on the grid ``startTime + k·period`` (``domain/schedule.py``
    tells the same rule; a disabled flow has no next run, which the caller decides)."""
    params = params or {}
    start = _epoch_seconds(params.get("startTime"))
    if start is None:
        return None
    now = time.time() if now is None else now
    frequency = str(params.get("frequency") or "once").lower()
    if frequency not in UNIT_SECONDS:
        return start if start > now else None
    try:
        period = int(params.get("interval") or 1) * UNIT_SECONDS[frequency]
    except (TypeError, ValueError):
        return None
    if period <= 0:
        return None
    if start > now:  # with backfill the history's window fires at startTime, else the first period's end
        backfill = str(params.get("backfill", "true")).lower() != "false"
        return start if backfill else start + period
    k = int((now - start) // period) + 1
    return start + k * period


def utc_iso(epoch_ms: Any) -> str:
    """``2026-12-01T09:00:00Z`` (what ``<time datetime>`` takes); empty for a missing time."""
    if not isinstance(epoch_ms, int | float):
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_ms / 1000))
