"""A run's progress samples: ``[tMs, read, written, deleted, failed]`` in its document
(``metrics.recordSummary.extensions.samples``), so that a chart of the run exists after a reload and once the
run has ended, without any viewer having watched it.

One sample at the run's start, one after each commit and one at its end; at most ``MAX_SAMPLES``, thinned by
dropping the interior sample whose neighbours are closest in time (the first and the last always stay, and the
series keeps an even spread over the run's duration). Counters never go back: a retried attempt resumes from
its last commit, so samples of work that did not land (counters above the new sample's) are dropped first.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_SAMPLES = 500
Sample = list[int]
"""``[tMs, read, written, deleted, failed]``: epoch milliseconds, then the run's counters at that time."""


def add_sample(samples: Sequence[Sequence[int]], sample: Sequence[int], limit: int = MAX_SAMPLES) -> list[Sample]:
    """``samples`` with ``sample`` appended, monotone in every field and at most ``limit`` long."""
    series = [list(s) for s in samples if _valid(s)]
    new = [int(v) for v in sample]
    while series and any(old > now for old, now in zip(series[-1], new, strict=True)):
        series.pop()  # a sample past what landed (a failed attempt's reads), or a clock that stepped back
    if series and series[-1][1:] == new[1:]:
        series[-1] = new  # nothing moved since: the newer time stands for both
    else:
        series.append(new)
    return downsample(series, limit)


def downsample(samples: list[Sample], limit: int = MAX_SAMPLES) -> list[Sample]:
    """At most ``limit`` samples (``limit`` ≥ 2), keeping the first and the last: each step drops the interior
    sample whose neighbours are closest in time, the one whose absence the chart misses least."""
    if limit < 2:
        raise ValueError("a series keeps at least its first and last samples")
    series = list(samples)
    while len(series) > limit:
        gaps = [series[i + 1][0] - series[i - 1][0] for i in range(1, len(series) - 1)]
        del series[1 + gaps.index(min(gaps))]
    return series


def samples_of(record_summary: object) -> list[Sample]:
    """The samples a run document holds (none for runs from before they existed)."""
    if not isinstance(record_summary, dict):
        return []
    extensions = record_summary.get("extensions")
    found = extensions.get("samples") if isinstance(extensions, dict) else None
    return [list(s) for s in found if _valid(s)] if isinstance(found, list) else []


def _valid(sample: object) -> bool:
    return (
        isinstance(sample, list | tuple)
        and len(sample) == 5
        and all(isinstance(v, int) and not isinstance(v, bool) for v in sample)
    )
