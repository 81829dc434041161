"""The monitoring chart's geometry and the bucketing of runs, without a browser."""

from __future__ import annotations

from flowservice.web.svg_bars import HEIGHT, Bucket, bar_chart, nice_max, short
from flowservice.web.views.monitoring import buckets


def test_the_axis_top_is_the_next_round_number() -> None:
    assert [nice_max(v) for v in (0, 1, 7, 10, 11, 230, 5001)] == [1, 1, 10, 10, 20, 500, 10000]
    assert [short(v) for v in (999, 1500, 12_000, 2_500_000)] == ["999", "1.5k", "12k", "2.5M"]


def test_bars_stack_failed_on_ingested_and_the_tallest_reaches_the_axis_top() -> None:
    chart = bar_chart(
        [Bucket("09:00", 100, 0), Bucket("10:00", 150, 50), Bucket("11:00", 0, 0)], unit="hour", span="the last 3h"
    )
    ingested = [r for r in chart.rects if r.kind == "ingested"]
    failed = [r for r in chart.rects if r.kind == "failed"]
    assert len(ingested) == 2 and len(failed) == 1  # an empty bucket draws nothing
    plot_top = HEIGHT - 24 - (chart.baseline - 10)
    assert failed[0].y == plot_top  # 150 + 50 = 200, the axis top
    assert abs(failed[0].y + failed[0].height - ingested[1].y) < 0.01  # stacked on its bucket's ingested bar
    assert abs(ingested[0].height * 1.5 - ingested[1].height) < 0.01
    assert chart.summary == "Records per hour over the last 3h: 250 ingested, 50 failed; peak 150 at 10:00"
    assert [t.label for t in chart.y_ticks] == ["0", "100", "200"]


def test_runs_fall_in_the_utc_hour_they_started_and_runs_outside_the_range_are_left_out() -> None:
    hour = 3_600_000
    since, now = 10 * hour + 1, 13 * hour + 5
    runs = [
        {"metrics": {"durationSummary": {"startedAtUTC": 10 * hour + 30}, "recordSummary": {"outputRecordCount": 5}}},
        {"metrics": {"durationSummary": {"startedAtUTC": 12 * hour}, "recordSummary": {"failedRecordCount": 2}}},
        {"metrics": {"durationSummary": {"startedAtUTC": 2 * hour}, "recordSummary": {"outputRecordCount": 99}}},
        {"metrics": {"durationSummary": {}, "recordSummary": {"outputRecordCount": 7}}},
    ]
    found = buckets(runs, since, now, 3600)
    assert [(b.label[-5:], b.ingested, b.failed) for b in found] == [
        ("10:00", 5, 0),
        ("11:00", 0, 0),
        ("12:00", 0, 2),
        ("13:00", 0, 0),
    ]
