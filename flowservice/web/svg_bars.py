"""Bar charts as server-drawn SVG geometry (pure: no I/O, no browser), for the monitoring page.

``bar_chart`` turns buckets of two stacked counts (records ingested, records failed) into rectangles, axis
ticks and a text alternative; the template draws them with presentation attributes and CSS classes only, so
the strict Content-Security-Policy (no inline style) holds. Failed records are hatched as well as coloured:
never colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 720
HEIGHT = 220
LEFT = 56
"""Room for the y-axis labels."""
BOTTOM = 24
"""Room for the x-axis labels."""
TOP = 10


@dataclass(frozen=True)
class Bucket:
    label: str
    """What the bucket covers, e.g. ``2026-12-03 09:00``."""
    ingested: int
    failed: int


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    kind: str
    """``ingested`` or ``failed`` (the CSS class and pattern)."""
    title: str


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    rects: tuple[Rect, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    baseline: float
    left: float
    summary: str
    """The text alternative (``aria-label``)."""


def nice_max(value: int) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ at or above ``value`` (at least 1): round gridlines."""
    if value <= 1:
        return 1
    power = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def short(value: int) -> str:
    """``12500`` → ``12.5k``: axis labels stay narrow."""
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= size:
            text = f"{value / size:.1f}".rstrip("0").rstrip(".")
            return text + suffix
    return str(value)


def bar_chart(buckets: Sequence[Bucket], *, unit: str, span: str, width: int = WIDTH, height: int = HEIGHT) -> BarChart:
    """Stacked bars (ingested below, failed above) over ``buckets`` in order; ``unit`` names one bucket
    (``hour``, ``day``) and ``span`` the whole range (``the last 24h``) for the text alternative."""
    plot_w = width - LEFT - 8
    plot_h = height - TOP - BOTTOM
    baseline = float(TOP + plot_h)
    top = nice_max(max((b.ingested + b.failed for b in buckets), default=0))
    slot = plot_w / max(1, len(buckets))
    gap = min(2.0, slot * 0.2)
    rects: list[Rect] = []
    for i, b in enumerate(buckets):
        x = LEFT + i * slot + gap / 2
        below = baseline
        for kind, count in (("ingested", b.ingested), ("failed", b.failed)):
            if count <= 0:
                continue
            h = plot_h * count / top
            below -= h
            title = f"{b.label}: {count:,} records {kind}"
            rects.append(Rect(round(x, 2), round(below, 2), round(slot - gap, 2), round(h, 2), kind, title))
    y_ticks = tuple(Tick(round(baseline - plot_h * f, 2), short(int(top * f))) for f in (0, 0.5, 1))
    every = max(1, math.ceil(len(buckets) / 6))
    x_ticks = tuple(
        Tick(round(LEFT + (i + 0.5) * slot, 2), b.label.split(" ")[-1] if unit == "hour" else b.label)
        for i, b in enumerate(buckets)
        if i % every == 0
    )
    total = sum(b.ingested for b in buckets)
    failed = sum(b.failed for b in buckets)
    peak = max(buckets, key=lambda b: b.ingested, default=None)
    summary = f"Records per {unit} over {span}: {total:,} ingested, {failed:,} failed"
    if peak is not None and peak.ingested:
        summary += f"; peak {peak.ingested:,} at {peak.label}"
    return BarChart(width, height, tuple(rects), y_ticks, x_ticks, baseline, float(LEFT), summary)
