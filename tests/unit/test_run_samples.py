"""The progress samples of a run document: bounded, first and last kept, monotone."""

from __future__ import annotations

import itertools

from flowservice.services.runs.samples import MAX_SAMPLES, add_sample, downsample, samples_of


def grown(n: int, limit: int = MAX_SAMPLES) -> list[list[int]]:
    series: list[list[int]] = []
    for i in range(n):
        series = add_sample(series, [1_000_000 + i * 1000, i * 10, i * 9, i // 5, i // 10], limit)
    return series


def test_a_long_run_keeps_at_most_500_samples_with_its_first_and_last() -> None:
    series = grown(2_000)
    assert len(series) == MAX_SAMPLES
    assert series[0] == [1_000_000, 0, 0, 0, 0]
    assert series[-1] == [1_000_000 + 1999 * 1000, 19990, 17991, 399, 199]


def test_thinning_keeps_the_samples_spread_over_the_whole_run() -> None:
    times = [s[0] for s in grown(2_000)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= 3 * (times[-1] - times[0]) / (len(times) - 1)  # no hole: roughly even spacing


def test_downsample_of_any_series_respects_the_bound() -> None:
    series = [[t * t, t, t, 0, 0] for t in range(1_000)]  # uneven times
    thinned = downsample(series, 7)
    assert len(thinned) == 7 and thinned[0] == series[0] and thinned[-1] == series[-1]
    assert thinned == sorted(thinned)


def test_samples_beyond_what_a_retry_resumes_from_are_dropped_so_counters_never_go_back() -> None:
    series = add_sample([], [1000, 0, 0, 0, 0])
    series = add_sample(series, [2000, 50, 50, 0, 0])  # a commit
    series = add_sample(series, [3000, 70, 50, 0, 0])  # the failed attempt's end: 20 read, not landed
    series = add_sample(series, [9000, 50, 50, 0, 0])  # the re-trigger resumes from the commit
    assert series == [[1000, 0, 0, 0, 0], [9000, 50, 50, 0, 0]]


def test_an_end_sample_with_unchanged_counters_replaces_the_last_commits_time() -> None:
    series = add_sample([[1000, 0, 0, 0, 0], [2000, 5, 5, 0, 0]], [2500, 5, 5, 0, 0])
    assert series == [[1000, 0, 0, 0, 0], [2500, 5, 5, 0, 0]]


def test_documents_without_samples_or_with_malformed_ones_read_as_empty() -> None:
    assert samples_of({"inputRecordCount": 3}) == []
    assert samples_of({"extensions": {"samples": [[1, 2, 3, 4, 5], ["x"], [1, 2]]}}) == [[1, 2, 3, 4, 5]]
    assert samples_of(None) == []
