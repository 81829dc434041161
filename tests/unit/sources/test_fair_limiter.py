"""The connection's limiter shares its slots fairly between the runs (owners) that use it."""

from __future__ import annotations

import threading
import time

from flowservice.sources.net.limiter import AdaptiveLimiter


def _wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def _waiters(limiter: AdaptiveLimiter) -> int:
    with limiter._cond:
        return sum(len(t) for t in limiter._waiting.values())


def test_a_freed_slot_goes_to_the_owner_served_longest_ago_not_to_the_busy_one() -> None:
    limiter = AdaptiveLimiter(1)
    order: list[str] = []
    lock = threading.Lock()
    hold = limiter.slot("busy")
    hold.__enter__()  # the busy run holds the only slot

    def take(owner: str) -> None:
        with limiter.slot(owner):
            with lock:
                order.append(owner)

    threads = [threading.Thread(target=take, args=("busy",)) for _ in range(6)]
    for thread in threads:
        thread.start()
    _wait_until(lambda: _waiters(limiter) == 6, "the busy run's six requests wait")
    quiet = threading.Thread(target=take, args=("quiet",))
    quiet.start()  # asks last, after six requests of the busy run
    threads.append(quiet)
    _wait_until(lambda: _waiters(limiter) == 7, "the quiet run's request waits")
    hold.__exit__(None, None, None)
    for thread in threads:
        thread.join(10)
    assert order[0] == "quiet", f"the quiet run waited behind the busy one: {order}"
    assert sorted(order) == ["busy"] * 6 + ["quiet"]


def test_two_busy_owners_alternate_slots() -> None:
    limiter = AdaptiveLimiter(1)
    order: list[str] = []
    lock = threading.Lock()
    hold = limiter.slot("a")
    hold.__enter__()

    def take(owner: str) -> None:
        with limiter.slot(owner):
            with lock:
                order.append(owner)

    threads = []
    for owner in ["a"] * 4 + ["b"] * 4:
        thread = threading.Thread(target=take, args=(owner,))
        thread.start()
        threads.append(thread)
        expected = len(threads)
        _wait_until(lambda n=expected: _waiters(limiter) == n, "requests wait in order")
    hold.__exit__(None, None, None)
    for thread in threads:
        thread.join(10)
    assert order == ["b", "a", "b", "a", "b", "a", "b", "a"]


def test_without_contention_one_owner_uses_every_slot() -> None:
    limiter = AdaptiveLimiter(3)
    held = [limiter.slot("only") for _ in range(3)]
    for slot in held:
        slot.__enter__()  # would block if one owner could not hold more than its share when alone
    for slot in held:
        slot.__exit__(None, None, None)
    assert limiter.limit == 3
