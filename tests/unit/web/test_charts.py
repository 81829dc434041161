"""The server-drawn SVG charts: rates from samples, accessible labels, data tables, failed runs hatched."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from flowservice.web.charts import RunBar, average_rate, rates, records_per_run, records_per_second

SVG = "{http://www.w3.org/2000/svg}"


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_rates_are_taken_over_a_five_second_window() -> None:
    samples = [[0, 0, 0, 0, 0], [1000, 100, 100, 0, 0], [6000, 600, 600, 0, 0], [7000, 1600, 1600, 0, 0]]
    assert rates(samples) == [(1000, 100.0), (6000, 100.0), (7000, 1500 * 1000 / 6000)]
    assert average_rate(samples) == 1600 * 1000 / 7000
    assert rates([[0, 0, 0, 0, 0]]) == [] and average_rate([[5, 1, 1, 0, 0]]) is None


def test_the_records_per_second_chart_is_an_image_stating_peak_and_current_with_the_same_numbers_as_rows() -> None:
    samples = [[0, 0, 0, 0, 0], [1000, 6400, 6400, 0, 0], [2000, 12300, 12300, 0, 0]]
    chart = records_per_second(samples, live=True)
    root = parsed(chart.svg)
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Records read per second: peak 6,400 records/s; now 6,150 records/s."
    assert root.find(f"{SVG}title") is not None
    assert len(root.findall(f"{SVG}path")) == 2  # the area and its line
    assert chart.rows == [("1", "6,400", "6,400"), ("2", "12,300", "6,150")]
    assert "at the end" in records_per_second(samples, live=False).label


def test_a_run_without_enough_samples_says_so_instead_of_drawing_nothing() -> None:
    chart = records_per_second([[0, 0, 0, 0, 0]], live=True)
    assert "not enough progress samples" in chart.label and chart.rows == []
    parsed(chart.svg)
    ended = records_per_second([[0, 0, 0, 0, 0]], live=False)
    assert ended.label == "Records per second: the run read no records." and "No records read" in ended.svg


def test_records_per_run_hatches_failed_runs_and_labels_the_largest_and_the_failures() -> None:
    runs = [
        RunBar("2026-12-01T09:00:00Z", 500, 0, False),
        RunBar("2026-12-01T10:00:00Z", 0, 3, True),
        RunBar("2026-12-01T11:00:00Z", 1200, 0, False),
    ]
    chart = records_per_run(runs, prefix="flow-x")
    root = parsed(chart.svg)
    assert root.get("aria-label") == "Records per run: 3 runs, the largest 1,200 records; 1 failed run (hatched)."
    bars = root.findall(f"{SVG}rect")
    assert [b.get("class") for b in bars] == ["chart-bar", "chart-bar-failed", "chart-bar"]
    assert bars[1].get("fill") == "url(#flow-x-hatch)" and float(bars[1].get("height") or 0) > 0
    pattern = root.find(f"{SVG}defs/{SVG}pattern")
    assert pattern is not None and pattern.get("id") == "flow-x-hatch"
    assert chart.rows[1] == ("2026-12-01T10:00:00Z", "0", "3", "failed")


def test_labels_are_escaped_in_the_markup() -> None:
    chart = records_per_run([RunBar("<b>&", 1, 0, False)])
    assert "<b>" not in chart.svg and "&lt;b&gt;&amp;" in chart.svg
    parsed(chart.svg)
