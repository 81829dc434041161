"""Schedules: parsing scheduleParams and computing the windows each run ingests."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowservice.domain.errors import InvalidRequest
from flowservice.domain.schedule import (
    MAX_EPOCH_SECONDS,
    MAX_INTERVAL,
    MIN_INTERVAL,
    Frequency,
    Schedule,
    Window,
    default_schedule_params,
    due_windows,
    next_fire_time,
    parse_schedule,
)

START = 1_612_310_466  # the documentation's startTime
MINUTE, HOUR, DAY, WEEK = 60, 3_600, 86_400, 604_800


def epoch(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC).timestamp())


# --------------------------------------------------------------------------------------------- parsing


def test_the_documented_example_with_numbers_as_strings_parses():
    schedule = parse_schedule({"startTime": "1612310466", "frequency": "minute", "interval": "15", "backfill": "true"})
    assert schedule == Schedule(START, Frequency.MINUTE, 15, True)
    assert schedule.period == 15 * MINUTE


def test_integers_and_booleans_parse_as_the_json_schema_types_them():
    schedule = parse_schedule({"startTime": START, "frequency": "hour", "interval": 2, "backfill": False})
    assert schedule == Schedule(START, Frequency.HOUR, 2, False)
    assert schedule.to_params() == {"startTime": START, "frequency": "hour", "interval": 2, "backfill": False}


@pytest.mark.parametrize("raw", ["DAY", "Day", " day "])
def test_frequency_is_case_insensitive(raw):
    assert parse_schedule({"startTime": START, "frequency": raw, "interval": 1}).frequency is Frequency.DAY


@pytest.mark.parametrize(("raw", "expected"), [("TRUE", True), ("false", False), (" False ", False), (True, True)])
def test_backfill_accepts_booleans_and_their_strings(raw, expected):
    assert parse_schedule({"startTime": START, "frequency": "day", "interval": 1, "backfill": raw}).backfill is expected


def test_backfill_defaults_to_true_as_the_spec_says():
    assert parse_schedule({"startTime": START, "frequency": "week", "interval": "1"}).backfill is True


def test_frequency_defaults_to_once():
    assert parse_schedule({"startTime": START}) == Schedule(START, Frequency.ONCE, None, True)


def test_a_start_time_in_milliseconds_is_read_as_seconds():
    assert parse_schedule({"startTime": START * 1000 + 999}).start_time == START


def test_integral_floats_and_numeric_strings_are_integers():
    assert parse_schedule({"startTime": f"{START}.0", "frequency": "minute", "interval": 30.0}).interval == 30
    assert parse_schedule({"startTime": str(START), "frequency": "minute", "interval": " 45 "}).interval == 45


@pytest.mark.parametrize(("frequency", "minimum"), sorted(MIN_INTERVAL.items()))
def test_intervals_below_the_documented_minimum_are_rejected(frequency, minimum):
    assert parse_schedule({"startTime": START, "frequency": frequency.value, "interval": minimum}).interval == minimum
    with pytest.raises(
        InvalidRequest,
        match=rf"scheduleParams.interval must be at least {minimum} when frequency is {frequency.value}, "
        rf"got {minimum - 1}",
    ):
        parse_schedule({"startTime": START, "frequency": frequency.value, "interval": minimum - 1})


def test_the_minute_minimum_is_fifteen():
    assert MIN_INTERVAL[Frequency.MINUTE] == 15
    with pytest.raises(InvalidRequest, match="at least 15 when frequency is minute, got 14"):
        parse_schedule({"startTime": START, "frequency": "minute", "interval": "14"})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"frequency": "day", "interval": 1}, "scheduleParams.startTime is required"),
        ({"startTime": "soon"}, "scheduleParams.startTime must be an integer, got 'soon'"),
        ({"startTime": 0}, "scheduleParams.startTime must be a positive epoch time"),
        ({"startTime": True}, "scheduleParams.startTime must be an integer, got True"),
        ({"startTime": START, "frequency": "month"}, "scheduleParams.frequency 'month' is not one of once, minute"),
        ({"startTime": START, "frequency": 3}, "scheduleParams.frequency 3 is not one of"),
        ({"startTime": START, "frequency": "hour"}, "scheduleParams.interval is required when frequency is hour"),
        ({"startTime": START, "frequency": "hour", "interval": "1.5"}, "interval must be an integer, got '1.5'"),
        ({"startTime": START, "frequency": "hour", "interval": False}, "interval must be an integer, got False"),
        ({"startTime": START, "frequency": "hour", "interval": 0}, "interval must be at least 1"),
        ({"startTime": START, "frequency": "hour", "interval": 1, "backfill": "yes"}, "backfill must be true or false"),
        ({"startTime": START, "frequency": "once", "interval": 1}, "interval is not allowed when frequency is once"),
        ({"startTime": START, "frequency": "ONCE", "backfill": True}, "backfill is not allowed when frequency is once"),
    ],
)
def test_invalid_schedule_params_are_rejected_with_a_precise_message(params, message):
    with pytest.raises(InvalidRequest, match=message.replace(".", r"\.").replace("(", r"\(")) as err:
        parse_schedule(params)
    assert err.value.status == 400


# --------------------------------------------------------------------------------------------- windows


def test_once_fires_one_window_up_to_start_time_and_never_again():
    once = Schedule(START, Frequency.ONCE)
    assert due_windows(once, last_fired_end=None, now=START - 1, max_catch_up=10) == []
    assert next_fire_time(once, None) == START
    assert due_windows(once, last_fired_end=None, now=START + 5 * DAY, max_catch_up=10) == [Window(0, START)]
    assert due_windows(once, last_fired_end=START, now=START + 10 * DAY, max_catch_up=10) == []
    assert next_fire_time(once, START) is None


def test_without_backfill_the_first_window_starts_at_start_time_and_fires_one_period_later():
    hourly = Schedule(START, Frequency.HOUR, 1, backfill=False)
    assert next_fire_time(hourly, None) == START + HOUR
    assert due_windows(hourly, last_fired_end=None, now=START + HOUR - 1, max_catch_up=5) == []
    assert due_windows(hourly, last_fired_end=None, now=START + HOUR, max_catch_up=5) == [Window(START, START + HOUR)]


def test_with_backfill_history_is_one_window_from_zero_fired_at_start_time():
    hourly = Schedule(START, Frequency.HOUR, 1, backfill=True)
    assert next_fire_time(hourly, None) == START
    assert due_windows(hourly, last_fired_end=None, now=START, max_catch_up=5) == [Window(0, START)]
    assert due_windows(hourly, last_fired_end=START, now=START + HOUR, max_catch_up=5) == [Window(START, START + HOUR)]


def test_missed_windows_after_downtime_are_all_returned_in_order():
    quarter = Schedule(START, Frequency.MINUTE, 15, backfill=False)
    last = START + 2 * 900
    windows = due_windows(quarter, last_fired_end=last, now=last + 3 * 900 + 899, max_catch_up=10)
    assert windows == [Window(last, last + 900), Window(last + 900, last + 1800), Window(last + 1800, last + 2700)]


def test_catch_up_beyond_the_bound_merges_the_oldest_windows_into_one():
    daily = Schedule(START, Frequency.DAY, 1, backfill=False)
    last = START + DAY
    windows = due_windows(daily, last_fired_end=last, now=last + 30 * DAY, max_catch_up=3)
    assert windows == [
        Window(last, last + 28 * DAY),
        Window(last + 28 * DAY, last + 29 * DAY),
        Window(last + 29 * DAY, last + 30 * DAY),
    ]
    assert due_windows(daily, last_fired_end=last, now=last + 30 * DAY, max_catch_up=1) == [
        Window(last, last + 30 * DAY)
    ]


def test_years_of_missed_quarter_hours_are_computed_without_walking_them():
    quarter = Schedule(epoch(2000, 1, 1), Frequency.MINUTE, 15, backfill=False)
    now = epoch(2030, 1, 1)
    windows = due_windows(quarter, last_fired_end=None, now=now, max_catch_up=2)
    assert windows == [Window(epoch(2000, 1, 1), now - 900), Window(now - 900, now)]


def test_an_off_grid_last_fired_end_continues_to_the_next_grid_point():
    hourly = Schedule(START, Frequency.HOUR, 1, backfill=False)
    last = START + 2 * HOUR + 123  # e.g. after the schedule was edited
    assert next_fire_time(hourly, last) == START + 3 * HOUR
    assert due_windows(hourly, last_fired_end=last, now=START + 3 * HOUR, max_catch_up=5) == [
        Window(last, START + 3 * HOUR)
    ]


def test_days_and_weeks_are_fixed_utc_seconds_across_a_daylight_saving_change():
    # Europe and the US change clocks in March; UTC arithmetic does not care.
    start = epoch(2024, 3, 30, 6, 0)
    daily = Schedule(start, Frequency.DAY, 1, backfill=False)
    windows = due_windows(daily, last_fired_end=None, now=epoch(2024, 4, 2, 6, 0), max_catch_up=10)
    assert [w.end for w in windows] == [epoch(2024, 3, 31, 6), epoch(2024, 4, 1, 6), epoch(2024, 4, 2, 6)]
    weekly = Schedule(start, Frequency.WEEK, 2, backfill=False)
    assert next_fire_time(weekly, None) == start + 2 * WEEK == epoch(2024, 4, 13, 6, 0)


def test_recomputing_after_a_crash_before_persisting_returns_the_same_windows():
    hourly = Schedule(START, Frequency.HOUR, 1, backfill=True)
    first = due_windows(hourly, last_fired_end=START, now=START + 5 * HOUR + 7, max_catch_up=3)
    again = due_windows(hourly, last_fired_end=START, now=START + 5 * HOUR + 9, max_catch_up=3)
    assert first == again


def test_max_catch_up_must_allow_at_least_one_window():
    with pytest.raises(ValueError, match="max_catch_up"):
        due_windows(Schedule(START, Frequency.ONCE), last_fired_end=None, now=START, max_catch_up=0)


# ------------------------------------------------------------------------------------------ properties

schedules = st.builds(
    lambda start, frequency, extra, backfill: Schedule(
        start,
        frequency,
        None if frequency is Frequency.ONCE else MIN_INTERVAL[frequency] + extra,
        True if frequency is Frequency.ONCE else backfill,
    ),
    st.integers(min_value=1, max_value=2_000_000_000),
    st.sampled_from(list(Frequency)),
    st.integers(min_value=0, max_value=5),
    st.booleans(),
)


def _grid_point(schedule: Schedule, t: int) -> bool:
    period = schedule.period
    if period is None:
        return t == schedule.start_time
    return (t - schedule.start_time) % period == 0


def _last_due_end(schedule: Schedule, now: int) -> int | None:
    """The latest window end that is <= now, by brute-force stepping (independent of the implementation)."""
    end = next_fire_time(schedule, None)
    last = None
    while end is not None and end <= now:
        last = end
        end = next_fire_time(schedule, end)
    return last


@settings(max_examples=300, deadline=None)
@given(
    schedule=schedules,
    gaps=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=25),
    caps=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=25),
)
def test_firing_repeatedly_at_random_times_never_skips_or_repeats_a_window(schedule, gaps, caps):
    unit = schedule.period or 3_600
    now = schedule.start_time - unit  # start before the first window is due
    last_fired_end: int | None = None  # what the store would persist across restarts
    fired: list[Window] = []
    for i, gap in enumerate(gaps):
        now += gap * unit // 4 + (i * 37) % 11  # on and off the grid
        windows = due_windows(schedule, last_fired_end=last_fired_end, now=now, max_catch_up=caps[i % len(caps)])
        assert len(windows) <= caps[i % len(caps)]
        for w in windows:
            assert w.start < w.end <= now
            assert _grid_point(schedule, w.end)
        fired.extend(windows)
        if windows:
            last_fired_end = windows[-1].end
        # Everything due has fired: the next window ends in the future.
        upcoming = next_fire_time(schedule, last_fired_end)
        assert upcoming is None or upcoming > now

    expected_first_start = schedule.start_time if schedule.period and not schedule.backfill else 0
    if fired:
        assert fired[0].start == expected_first_start
        for before, after in itertools.pairwise(fired):
            assert after.start == before.end  # contiguous: no gap, no overlap
    assert (fired[-1].end if fired else None) == _last_due_end(schedule, now)


@settings(max_examples=200, deadline=None)
@given(schedule=schedules, span=st.integers(min_value=0, max_value=60), cap=st.integers(min_value=1, max_value=5))
def test_catching_up_only_merges_windows_it_never_moves_a_boundary(schedule, span, cap):
    unit = schedule.period or 3_600
    now = schedule.start_time + span * unit
    fine = due_windows(schedule, last_fired_end=None, now=now, max_catch_up=10_000)
    coarse = due_windows(schedule, last_fired_end=None, now=now, max_catch_up=cap)
    assert {w.end for w in coarse} <= {w.end for w in fine}
    assert [w.end for w in coarse[1:]] == [w.end for w in fine[len(fine) - len(coarse) + 1 :]]
    if fine:
        assert coarse[0].start == fine[0].start and coarse[-1].end == fine[-1].end
        periodic = [w for w in fine if w.start >= schedule.start_time]
        assert all(w.end - w.start == schedule.period for w in periodic)


# --------------------------------------------------------------------------- defaults and bounds


def test_the_default_schedule_is_once_from_now_and_passes_its_own_validation():
    params = default_schedule_params(START)
    assert params == {"startTime": START, "frequency": "once"}
    schedule = parse_schedule(params)
    assert schedule == Schedule(START, Frequency.ONCE, None, True)
    assert due_windows(schedule, last_fired_end=None, now=START, max_catch_up=4) == [Window(0, START)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"startTime": 10**30, "frequency": "once"}, f"at most {MAX_EPOCH_SECONDS}"),
        ({"startTime": 1e300, "frequency": "once"}, f"at most {MAX_EPOCH_SECONDS}"),
        ({"startTime": "9" * 5000, "frequency": "once"}, "must be an integer, got '9999"),
        ({"startTime": START, "frequency": "day", "interval": 10**18}, f"at most {MAX_INTERVAL}"),
    ],
)
def test_huge_start_times_and_intervals_are_refused_with_a_short_message(params, expected):
    with pytest.raises(InvalidRequest) as caught:
        parse_schedule(params)
    assert expected in caught.value.message and len(caught.value.message) < 200


def test_the_latest_start_and_the_longest_interval_are_accepted():
    schedule = parse_schedule({"startTime": MAX_EPOCH_SECONDS, "frequency": "week", "interval": MAX_INTERVAL})
    assert schedule.period is not None and (MAX_EPOCH_SECONDS + schedule.period) * 1000 < 2**63
