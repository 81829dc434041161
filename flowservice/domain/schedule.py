"""Flow schedules: when a flow runs and which time window each run ingests.

``scheduleParams`` (reference §8.1 ``scheduleSpec``, §8.3) is read by ``parse_schedule``:

    startTime   epoch seconds, integer or numeric string; required. A value of 10^11 or more is taken as
                milliseconds (clients mix the two, §8.8) and floored to seconds.
    frequency   once | minute | hour | day | week, case-insensitive; defaults to ``once`` (§8.3).
    interval    integer or numeric string; required unless ``once``, forbidden with ``once``.
                Minimums from the CRMToAEP scheduleSpec: minute >= 15; hour, day, week >= 1.
    backfill    boolean or "true"/"false"; default true; forbidden with ``once``.

A flow sent without ``scheduleParams`` (or with an empty object) gets ``default_schedule_params(now)``: the
documented default frequency ``once``, starting at creation, i.e. one run that ingests everything up to now.

Windows. All arithmetic is in UTC epoch seconds (a day is 86 400 s, a week 604 800 s: no calendars, no DST).
A periodic schedule with period ``p = interval × unit`` has window ends on the grid ``startTime + k·p``.
Each run ingests one window ``(start, end]`` and fires once ``now >= end``; windows are contiguous, each
starting where the previous one ended, so the only state to persist is ``last_fired_end``.

* Without backfill the first window is ``(startTime, startTime + p]``: nothing older than startTime.
* With backfill a first window ``(0, startTime]`` fires at startTime and ingests the history, then the
  periodic windows follow.
* ``once`` has one window, ``(0, startTime]``, fired at startTime.

After downtime every missed window is due at once (catch-up). ``max_catch_up`` bounds how many runs that
creates: the oldest missed windows are merged into one, so no data range is ever lost or read twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from flowservice.domain.errors import InvalidRequest

MILLISECONDS_THRESHOLD = 10**11  # epoch seconds reach 10^11 in the year 5138
MAX_EPOCH_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z: later times overflow dates and database integers
MAX_INTERVAL = 1_000_000  # so that every window end stays far inside a 64-bit integer of milliseconds


class Frequency(StrEnum):
    ONCE = "once"
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


UNIT_SECONDS = {
    Frequency.MINUTE: 60,
    Frequency.HOUR: 3_600,
    Frequency.DAY: 86_400,
    Frequency.WEEK: 604_800,
}

# The CRMToAEP scheduleSpec: "interval": {"minimum": 15} when frequency is minute, {"minimum": 1} otherwise.
MIN_INTERVAL = {
    Frequency.MINUTE: 15,
    Frequency.HOUR: 1,
    Frequency.DAY: 1,
    Frequency.WEEK: 1,
}


class Window(NamedTuple):
    """The range ``(start, end]`` of the delta column one run ingests, in epoch seconds."""

    start: int
    end: int


@dataclass(frozen=True)
class Schedule:
    start_time: int
    frequency: Frequency
    interval: int | None = None  # None for ``once``
    backfill: bool = True

    @property
    def period(self) -> int | None:
        """Seconds between two runs, or None for ``once``."""
        if self.interval is None:
            return None
        return self.interval * UNIT_SECONDS[self.frequency]

    def to_params(self) -> dict[str, Any]:
        """``scheduleParams`` in the schema's own types (integers and booleans)."""
        params: dict[str, Any] = {"startTime": self.start_time, "frequency": self.frequency.value}
        if self.frequency is not Frequency.ONCE:
            params["interval"] = self.interval
            params["backfill"] = self.backfill
        return params


# ------------------------------------------------------------------------------------------- parsing


def _shown(value: Any) -> str:
    """A value sent by the client, quoted for a message and cut short when long."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}…"


def _integer(value: Any, name: str) -> int:
    """Integers come as JSON numbers or strings ("15"): the docs send strings, the schema says integer."""
    if isinstance(value, bool):
        raise InvalidRequest(f"scheduleParams.{name} must be an integer, got {_shown(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = float("nan")
            if number.is_integer():
                return int(number)
    raise InvalidRequest(f"scheduleParams.{name} must be an integer, got {_shown(value)}")


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidRequest(f"scheduleParams.{name} must be true or false, got {_shown(value)}")


def default_schedule_params(now: int) -> dict[str, Any]:
    """The ``scheduleParams`` of a flow created without them (at epoch second ``now``): frequency ``once``,
    Adobe's documented default, starting at creation, so the flow runs once and ingests the table so far."""
    return {"startTime": now, "frequency": Frequency.ONCE.value}


def parse_schedule(params: dict[str, Any]) -> Schedule:
    """Validate ``scheduleParams`` against the CRMToAEP scheduleSpec; ``InvalidRequest`` names the field."""
    if not isinstance(params, dict):
        raise InvalidRequest("scheduleParams must be an object")

    if params.get("startTime") is None:
        raise InvalidRequest("scheduleParams.startTime is required (epoch seconds)")
    start_time = _integer(params["startTime"], "startTime")
    if start_time >= MILLISECONDS_THRESHOLD:
        start_time //= 1000
    if start_time <= 0:
        raise InvalidRequest(f"scheduleParams.startTime must be a positive epoch time in seconds, got {start_time}")
    if start_time > MAX_EPOCH_SECONDS:
        raise InvalidRequest(
            f"scheduleParams.startTime must be at most {MAX_EPOCH_SECONDS} (9999-12-31T23:59:59Z in epoch seconds)"
        )

    raw_frequency = params.get("frequency", Frequency.ONCE.value)
    if raw_frequency is None:
        raw_frequency = Frequency.ONCE.value
    allowed = ", ".join(f.value for f in Frequency)
    if not isinstance(raw_frequency, str) or raw_frequency.strip().lower() not in {f.value for f in Frequency}:
        raise InvalidRequest(f"scheduleParams.frequency {raw_frequency!r} is not one of {allowed}")
    frequency = Frequency(raw_frequency.strip().lower())

    has_interval = params.get("interval") is not None
    has_backfill = params.get("backfill") is not None
    if frequency is Frequency.ONCE:
        if has_interval:
            raise InvalidRequest("scheduleParams.interval is not allowed when frequency is once")
        if has_backfill:
            raise InvalidRequest("scheduleParams.backfill is not allowed when frequency is once")
        return Schedule(start_time, frequency, None, True)

    if not has_interval:
        raise InvalidRequest(f"scheduleParams.interval is required when frequency is {frequency.value}")
    interval = _integer(params["interval"], "interval")
    minimum = MIN_INTERVAL[frequency]
    if interval < minimum:
        raise InvalidRequest(
            f"scheduleParams.interval must be at least {minimum} when frequency is {frequency.value}, got {interval}"
        )
    if interval > MAX_INTERVAL:
        raise InvalidRequest(f"scheduleParams.interval must be at most {MAX_INTERVAL}, got {interval}")
    backfill = _boolean(params["backfill"], "backfill") if has_backfill else True
    return Schedule(start_time, frequency, interval, backfill)


# ------------------------------------------------------------------------------------------- windows


def _first_end(schedule: Schedule) -> int:
    """The earliest window end: startTime for ``once`` and backfill, one period later otherwise."""
    period = schedule.period
    if period is None or schedule.backfill:
        return schedule.start_time
    return schedule.start_time + period


def _next_end(schedule: Schedule, last_fired_end: int | None) -> int | None:
    """The end of the window after ``last_fired_end``: the first grid point past it (None when done)."""
    first = _first_end(schedule)
    if last_fired_end is None or last_fired_end < first:
        return first
    period = schedule.period
    if period is None:
        return None  # ``once`` has fired
    k = (last_fired_end - schedule.start_time) // period + 1
    return schedule.start_time + k * period


def next_fire_time(schedule: Schedule, last_fired_end: int | None) -> int | None:
    """When the next window becomes due (its end), or None when a ``once`` schedule has fired."""
    return _next_end(schedule, last_fired_end)


def due_windows(schedule: Schedule, *, last_fired_end: int | None, now: int, max_catch_up: int) -> list[Window]:
    """The windows that ended by ``now`` and have not fired, oldest first, at most ``max_catch_up`` of them.

    Give it the persisted end of the last fired window; persist the end of the last window returned once the
    runs are queued. When more than ``max_catch_up`` windows are due the oldest ones are merged into the
    first returned window, which keeps the ranges contiguous: firing at any times, in any number of calls,
    covers ``(first start, last grid point <= now]`` exactly once.
    """
    if max_catch_up < 1:
        raise ValueError("max_catch_up must be at least 1")
    first_end = _next_end(schedule, last_fired_end)
    if first_end is None or first_end > now:
        return []
    if last_fired_end is not None:
        start = last_fired_end
    else:
        start = schedule.start_time if schedule.period is not None and not schedule.backfill else 0

    period = schedule.period
    if period is None:
        return [Window(start, first_end)]
    # Ends due: first_end, first_end + p, ... <= now. The first may follow a backfill window or an off-grid
    # last_fired_end; every later one is on the grid, one period apart.
    ends_after_first = (now - first_end) // period
    count = ends_after_first + 1
    if count > max_catch_up:
        skipped = count - max_catch_up  # merged into the first window
        merged_end = first_end + skipped * period
        windows = [Window(start, merged_end)]
        previous = merged_end
        remaining = max_catch_up - 1
    else:
        windows = [Window(start, first_end)]
        previous = first_end
        remaining = count - 1
    for _ in range(remaining):
        windows.append(Window(previous, previous + period))
        previous += period
    return windows
