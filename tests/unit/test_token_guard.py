"""The failure budgets of the token endpoint, on a fake clock."""

import pytest

from flowservice.services.token_guard import FailureWindow, TokenGuard, TooManyFailures


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_sixth_failure_within_the_window_is_refused_with_the_seconds_to_wait() -> None:
    clock = Clock()
    guard = TokenGuard(per_client=5, per_address=100, window=60, clock=clock)
    for _ in range(5):
        guard.attempt("client", "10.0.0.1")  # five wrong secrets
        clock.now += 1
    with pytest.raises(TooManyFailures) as refused:
        guard.attempt("client", "10.0.0.1")
    assert refused.value.status == 429
    assert refused.value.retry_after == 55  # the oldest failure (at 1000) leaves the window at 1060; now: 1005
    guard.attempt("another-client", "10.0.0.2")  # others keep their own budgets


def test_a_budget_comes_back_as_failures_leave_the_window() -> None:
    clock = Clock()
    window = FailureWindow(2, 10, clock=clock)
    window.fail("k")
    clock.now += 5
    window.fail("k")
    assert window.retry_after("k") == 5
    clock.now += 5
    assert window.retry_after("k") is None


def test_failures_from_one_address_over_many_client_ids_are_refused_by_the_address_budget() -> None:
    guard = TokenGuard(per_client=5, per_address=3, window=60, clock=Clock())
    for n in range(3):
        guard.failed(f"client-{n}", "10.0.0.9")
    with pytest.raises(TooManyFailures):
        guard.attempt("client-new", "10.0.0.9")


def test_the_failure_table_stays_bounded_under_a_spray_of_keys() -> None:
    clock = Clock()
    window = FailureWindow(5, 60, clock=clock, max_keys=100)
    for n in range(1000):
        window.fail(f"k{n}")
    assert len(window._failures) <= 100


def test_concurrent_attempts_cannot_overrun_the_budget_and_successes_are_given_back() -> None:
    guard = TokenGuard(per_client=2, per_address=100, window=60, clock=Clock())
    guard.attempt("client", "a")  # two attempts in flight, outcome unknown
    guard.attempt("client", "b")
    with pytest.raises(TooManyFailures):
        guard.attempt("client", "c")
    guard.succeeded("client", "b")  # one of them had the right secret
    guard.attempt("client", "c")
