"""Interactive source calls: a pool of their own, a per-organization limit (429 with Retry-After), a total
deadline bound for the source, and cancellation when the client goes away."""

from __future__ import annotations

import asyncio
import threading

import pytest

from flowservice.domain import deadlines
from flowservice.domain.deadlines import Cancelled, Deadline, DeadlineExceeded
from flowservice.domain.errors import TooManyRequests
from flowservice.domain.tenancy import Tenant
from flowservice.services.source_calls import SourceCalls

A = Tenant("A@AdobeOrg", "prod")
A_OTHER_SANDBOX = Tenant("A@AdobeOrg", "dev")
B = Tenant("B@AdobeOrg", "prod")


def blocking_call(release: threading.Event, started: threading.Semaphore):
    def call() -> str:
        started.release()
        release.wait(30)
        return threading.current_thread().name

    return call


def test_an_organization_over_its_limit_is_refused_at_once_with_retry_after_and_others_are_not():
    calls = SourceCalls(threads=8, per_tenant=2, deadline_seconds=30, retry_after=7)
    release, started = threading.Event(), threading.Semaphore(0)

    async def scenario() -> None:
        held = [asyncio.ensure_future(calls.run(A, "slow", blocking_call(release, started))) for _ in range(2)]
        for _ in range(2):
            await asyncio.to_thread(started.acquire)
        for tenant in (A, A_OTHER_SANDBOX):  # a sandbox name is the caller's choice: the limit is per org
            with pytest.raises(TooManyRequests) as caught:
                await calls.run(tenant, "one too many", lambda: "never")
            assert caught.value.status == 429 and caught.value.retry_after == 7
        other = asyncio.ensure_future(calls.run(B, "another org", lambda: "answered"))
        assert await other == "answered"
        release.set()
        names = await asyncio.gather(*held)
        assert all(name.startswith("source-call") for name in names)  # not the loop's default pool
        assert calls.in_flight(A) == 0
        assert await calls.run(A, "again", lambda: "free again") == "free again"

    asyncio.run(scenario())
    calls.close()


def test_the_call_sees_its_deadline_and_a_client_that_went_away_cancels_it():
    calls = SourceCalls(threads=2, per_tenant=2, deadline_seconds=30)
    seen: list[Deadline | None] = []
    started = threading.Event()

    def call() -> None:
        deadline = deadlines.current()
        seen.append(deadline)
        started.set()
        assert deadline is not None
        deadline.sleep(25)  # woken by the cancellation, not by time

    async def gone() -> bool:
        return started.is_set()

    async def scenario() -> None:
        with pytest.raises(Cancelled):
            await calls.run(A, "The test of a dripping org", call, disconnected=gone)

    asyncio.run(scenario())
    assert seen[0] is not None and seen[0].cancelled and seen[0].what == "The test of a dripping org"
    calls.close()


def test_held_bounds_a_call_made_in_the_current_thread_and_is_reentrant_inside_run():
    calls = SourceCalls(threads=2, per_tenant=1, deadline_seconds=30)
    with calls.held(A, "validating a flow") as deadline:
        assert deadlines.current() is deadline
        refused: list[BaseException] = []

        def elsewhere() -> None:  # another request of the same org, on another thread
            try:
                with calls.held(A_OTHER_SANDBOX, "a second one"):
                    pass
            except TooManyRequests as exc:
                refused.append(exc)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        assert len(refused) == 1
    assert calls.in_flight(A) == 0

    def nested() -> bool:
        with calls.held(A, "inside run"):
            return calls.in_flight(A) == 1

    assert asyncio.run(calls.run(A, "outer", nested))
    calls.close()


def test_a_nested_deadline_never_extends_the_outer_one_and_inherits_its_cancellation():
    with deadlines.within(5, "outer") as outer:
        with deadlines.within(600, "inner") as inner:
            assert inner is outer
        with deadlines.within(1, "short") as short:
            assert short is not outer
            outer.cancel()
            with pytest.raises(Cancelled):
                short.check()


def test_a_wait_longer_than_what_is_left_fails_at_once():
    deadline = Deadline(2, "A Dataverse call")
    with pytest.raises(DeadlineExceeded, match="would have to wait 30 s"):
        deadline.sleep(30)
