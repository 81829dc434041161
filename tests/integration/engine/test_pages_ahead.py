"""The engine reads a source's next pages in a thread while it lands the current one: same pages, same order,
the source's errors where they happened, and no reading left running once the loop stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pyarrow as pa
import pytest

from flowservice.domain.errors import SourceUnavailable
from flowservice.ports import Page
from flowservice.services.runs.pages_ahead import PagesAhead


def pages(count: int, log: list[str], fail_at: int | None = None) -> Iterator[Page]:
    try:
        for n in range(count):
            if n == fail_at:
                raise SourceUnavailable("reset")
            log.append(f"read {n} in {threading.current_thread().name}")
            yield Page(batch=pa.record_batch({"n": [n]}), cursor={"n": n}, final=n == count - 1)
    finally:
        log.append("closed")


def test_pages_come_out_in_order_read_by_a_thread_of_their_own() -> None:
    log: list[str] = []
    with PagesAhead(pages(5, log), 1) as ahead:
        assert [p.cursor["n"] for p in ahead] == [0, 1, 2, 3, 4]
    assert all("source-pages" in line for line in log[:-1]) and log[-1] == "closed"


def test_an_error_of_the_source_comes_out_after_the_pages_before_it() -> None:
    seen = []
    with pytest.raises(SourceUnavailable), PagesAhead(pages(5, [], fail_at=3), 2) as ahead:  # noqa: PT012 (it fails while iterating)
        for page in ahead:
            seen.append(page.cursor["n"])
    assert seen == [0, 1, 2]


def test_reading_stops_within_depth_pages_once_the_loop_stops() -> None:
    log: list[str] = []
    with PagesAhead(pages(1000, log), 1) as ahead:
        for page in ahead:
            if page.cursor["n"] == 2:
                break
    deadline = time.monotonic() + 5
    while "closed" not in log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log[-1] == "closed"
    assert len(log) - 1 <= 3 + 2  # the three landed, one queued, one being read
