"""Charts drawn on the server as SVG, with no library and no script: a run's records per second (from the
progress samples of its document) and the records of each run of a flow.

Each chart is a ``Chart``: the SVG markup (``role="img"`` with an ``aria-label`` that states what a sighted
reader takes from it: peak and current rate, or the largest run and how many failed) and the same numbers as
table rows, which the template renders as a visually hidden table. Colours come from classes in ``app.css``
(the CSP allows no inline style); failed runs are hatched as well as coloured, so colour is never the only cue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

RATE_WINDOW_MS = 5_000
"""Rates are taken over the last five seconds of samples: a commit every few seconds still reads smoothly."""
WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 26, 30


@dataclass(frozen=True)
class Chart:
    svg: str
    label: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class RunBar:
    """One run of a flow, for the records-per-run chart."""

    label: str
    """When the run started (UTC), shown under the bar and in the table."""
    records: int
    failed_records: int
    failed: bool
    """The run failed: its bar is hatched."""


def number(value: float) -> str:
    """``6,400`` or ``12.5``: thousands separated, one decimal below ten."""
    if value < 10 and value != int(value):
        return f"{value:,.1f}"
    return f"{round(value):,}"


def rates(samples: Sequence[Sequence[int]], window_ms: int = RATE_WINDOW_MS) -> list[tuple[int, float]]:
    """``(tMs, records read per second)`` at each sample after the first, over the samples of the last
    ``window_ms`` before it (or since the first sample, when the run is younger than that)."""
    out: list[tuple[int, float]] = []
    j = 0
    for i in range(1, len(samples)):
        t, read = samples[i][0], samples[i][1]
        while j + 1 < i and samples[j + 1][0] <= t - window_ms:
            j += 1
        dt = t - samples[j][0]
        if dt > 0:
            out.append((t, max(0.0, (read - samples[j][1]) * 1000 / dt)))
    return out


def average_rate(samples: Sequence[Sequence[int]]) -> float | None:
    """Records read per second from the first sample to the last."""
    if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
        return None
    return max(0.0, (samples[-1][1] - samples[0][1]) * 1000 / (samples[-1][0] - samples[0][0]))


def _nice_ceiling(value: float) -> float:
    """The axis top: 1, 2, 2.5 or 5 times a power of ten, at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 1.0
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _frame(title: str, label: str, ymax: float, unit: str, extra_defs: str = "") -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if extra_defs:
        parts.append(f"<defs>{extra_defs}</defs>")
    for k in range(5):
        y = TOP + plot_h * (1 - k / 4)
        parts.append(f'<line class="chart-grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="chart-text" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(number(ymax * k / 4))}</text>"
        )
    parts.append(f'<text class="chart-text" x="4" y="12">{escape(unit)}</text>')
    return parts


def records_per_second(samples: Sequence[Sequence[int]], *, live: bool) -> Chart:
    """The records read per second over a run, as an area under a line, from its samples."""
    series = rates(samples)
    headers = ("Seconds since start", "Records read", "Records/s")
    if not series:
        nothing_read = not live and all(s[1] == 0 for s in samples)
        label = (
            "Records per second: the run read no records."
            if nothing_read
            else "Records per second: not enough progress samples yet."
        )
        svg = "\n".join(
            [
                *_frame("Records per second", label, 1.0, "records/s"),
                f'<text class="chart-text" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
                f"{'No records read' if nothing_read else 'No progress yet'}</text></svg>",
            ]
        )
        return Chart(svg, label, headers)
    start, end = samples[0][0], series[-1][0]
    peak = max(r for _, r in series)
    current = series[-1][1]
    label = (
        f"Records read per second: peak {number(peak)} records/s; "
        f"{'now' if live else 'at the end'} {number(current)} records/s."
    )
    ymax = _nice_ceiling(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = max(1, end - start)

    def xy(t: int, rate: float) -> tuple[float, float]:
        return LEFT + plot_w * (t - start) / span, TOP + plot_h * (1 - rate / ymax)

    points = [xy(start, 0.0)] + [xy(t, r) for t, r in series]
    line = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
    base = TOP + plot_h
    area = f"{line} L{points[-1][0]:.1f},{base:.1f} L{points[0][0]:.1f},{base:.1f} Z"
    peak_t = next(t for t, r in series if r == peak)
    px, py = xy(peak_t, peak)
    parts = _frame("Records per second", label, ymax, "records/s")
    parts += [
        f'<path class="chart-area" d="{area}"/>',
        f'<path class="chart-line" d="{line}"/>',
        f'<circle class="chart-peak" cx="{px:.1f}" cy="{py:.1f}" r="3.5"/>',
        f'<text class="chart-text" x="{min(px, WIDTH - RIGHT - 90):.1f}" y="{max(py - 6, TOP + 10):.1f}">'
        f"peak {escape(number(peak))}</text>",
        f'<text class="chart-text" x="{LEFT}" y="{HEIGHT - 10}">0 s</text>',
        f'<text class="chart-text" x="{WIDTH - RIGHT}" y="{HEIGHT - 10}" text-anchor="end">'
        f"{escape(number(span / 1000))} s</text>",
        "</svg>",
    ]
    reads = {s[0]: s[1] for s in samples}
    rows = [(number((t - start) / 1000), f"{reads.get(t, 0):,}", number(r)) for t, r in series]
    return Chart("\n".join(parts), label, headers, rows)


def records_per_run(runs: Sequence[RunBar], *, prefix: str = "runs") -> Chart:
    """One bar per run (oldest first): records landed, failed runs hatched and outlined."""
    headers = ("Run started (UTC)", "Records", "Failed records", "Status")
    failed = sum(1 for r in runs if r.failed)
    if not runs:
        label = "Records per run: no run in this range."
        svg = "\n".join(
            [
                *_frame("Records per run", label, 1.0, "records"),
                f'<text class="chart-text" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
                "No run in this range</text></svg>",
            ]
        )
        return Chart(svg, label, headers)
    most = max(r.records for r in runs)
    label = (
        f"Records per run: {len(runs)} run{'s' if len(runs) != 1 else ''}, the largest {number(most)} records; "
        f"{failed} failed run{'s' if failed != 1 else ''} (hatched)."
    )
    ymax = _nice_ceiling(most)
    hatch = f"{prefix}-hatch"
    defs = (
        f'<pattern id="{hatch}" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">'
        '<rect class="chart-hatch-bg" width="6" height="6"/><line class="chart-hatch" x1="0" y1="0" x2="0" y2="6"/>'
        "</pattern>"
    )
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(runs)
    width = max(1.0, slot * 0.7)
    parts = _frame("Records per run", label, ymax, "records", defs)
    for i, run in enumerate(runs):
        h = plot_h * run.records / ymax
        if run.failed:
            h = max(h, 4.0)  # a failed run that landed nothing still shows
        x, y = LEFT + slot * i + (slot - width) / 2, TOP + plot_h - h
        kind = "chart-bar-failed" if run.failed else "chart-bar"
        fill = f' fill="url(#{hatch})"' if run.failed else ""
        status = "failed" if run.failed else "succeeded"
        parts.append(
            f'<rect class="{kind}"{fill} x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{h:.1f}">'
            f"<title>{escape(run.label)}: {run.records:,} records, {status}</title></rect>"
        )
    parts += [
        f'<text class="chart-text" x="{LEFT}" y="{HEIGHT - 10}">{escape(runs[0].label)}</text>',
        f'<text class="chart-text" x="{WIDTH - RIGHT}" y="{HEIGHT - 10}" text-anchor="end">'
        f"{escape(runs[-1].label)}</text>",
        "</svg>",
    ]
    rows = [(r.label, f"{r.records:,}", f"{r.failed_records:,}", "failed" if r.failed else "succeeded") for r in runs]
    return Chart("\n".join(parts), label, headers, rows)
