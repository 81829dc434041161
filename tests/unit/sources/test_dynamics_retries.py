"""Throttling, outages and broken transfers are absorbed within a bounded budget, then reported clearly."""

from __future__ import annotations

import httpx
import pytest

from flowservice.domain.errors import NotFound, SourceRefused, SourceThrottled, SourceUnavailable
from flowservice.sources.net.retry import retry_after_seconds

THROTTLED = {
    "error": {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    }
}


def test_retry_policy_honours_retry_after(source, fake, sleeps):
    source.check()
    fake.fail("accounts", 429, times=2, headers={"Retry-After": "7"}, body=THROTTLED)
    pages = list(source.read("account", ["name"], None))
    assert sum(p.batch.num_rows for p in pages) == 5
    assert len(sleeps) == 2 and all(7 <= s <= 8 for s in sleeps)


def test_throttling_beyond_the_retry_budget_is_source_throttled_with_dataverse_message(source, fake, sleeps):
    source.check()
    fake.fail("accounts", 429, times=99, headers={"Retry-After": "1"}, body=THROTTLED)
    with pytest.raises(SourceThrottled, match=r"0x80072322.*6000") as caught:
        list(source.read("account", ["name"], None))
    assert caught.value.retryable
    assert len(sleeps) == 3  # max_retries=3 in the test settings


def test_a_retry_after_longer_than_the_cap_fails_fast_instead_of_blocking(source, fake, sleeps):
    source.check()
    fake.fail("accounts", 429, headers={"Retry-After": "3600"}, body=THROTTLED)
    with pytest.raises(SourceThrottled):
        list(source.read("account", ["name"], None))
    assert sleeps == []


def test_throttling_halves_the_connection_concurrency(source, fake):
    source.check()
    limiter = source._session().limiter
    before = limiter.limit
    fake.fail("accounts", 429, headers={"Retry-After": "0"}, body=THROTTLED)
    list(source.read("account", ["name"], None))
    assert limiter.limit == max(1, before // 2)


def test_who_am_i_dop_hint_caps_concurrency(source, fake):
    fake.dop_hint = "3"
    source.check()
    assert source._session().limiter.limit == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_with_jittered_exponential_backoff(source, fake, sleeps, status):
    source.check()
    fake.fail("accounts", status, times=3, body={"error": {"code": "", "message": "org is not available"}})
    pages = list(source.read("account", ["name"], None))
    assert pages[-1].final
    assert len(sleeps) == 3
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0 and 2.0 <= sleeps[2] <= 4.0


def test_an_outage_beyond_the_budget_is_source_unavailable(source, fake):
    source.check()
    fake.fail(
        "accounts",
        503,
        times=99,
        body={"error": {"code": "", "message": "Unable to perform the request as the org is not available now"}},
    )
    with pytest.raises(SourceUnavailable, match="org is not available"):
        list(source.read("account", ["name"], None))


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.ReadTimeout("slow"),
    ],
)
def test_connection_errors_and_resets_mid_body_are_retried(source, fake, sleeps, error):
    source.check()
    fake.fail("accounts", exception=error, times=2)
    pages = list(source.read("account", ["name"], None))
    assert sum(p.batch.num_rows for p in pages) == 5 and len(sleeps) == 2


def test_a_truncated_json_page_is_retried_like_a_reset(source, fake, sleeps):
    source.check()
    fake.fail("accounts", 200, headers={"Content-Type": "application/json"}, body=b'{"value":[{"name":"Acc')
    pages = list(source.read("account", ["name"], None))
    assert sum(p.batch.num_rows for p in pages) == 5 and len(sleeps) == 1


def test_network_failure_beyond_the_budget_is_source_unavailable(source, fake):
    source.check()
    fake.fail("accounts", exception=httpx.ConnectError("refused"), times=99)
    with pytest.raises(SourceUnavailable, match="could not be reached after 4 attempts"):
        list(source.read("account", ["name"], None))


def test_a_bad_request_is_not_retried_and_names_the_dataverse_error(source, fake, sleeps):
    source.check()
    fake.fail(
        "accounts",
        400,
        body={
            "error": {
                "code": "0x80060888",
                "message": "Could not find a property named 'bogus' on type 'Microsoft.Dynamics.CRM.account'.",
            }
        },
        headers={"x-ms-service-request-id": "req-42"},
    )
    with pytest.raises(SourceRefused, match=r"400 0x80060888: Could not find a property named 'bogus'.*req-42"):
        list(source.read("account", ["name"], None))
    assert sleeps == []


def test_query_shape_timeouts_are_not_retried(source, fake, sleeps):
    source.check()
    fake.fail("accounts", 500, body={"error": {"code": "0x80048573", "message": "LeadingWildcardCauseTimeout"}})
    with pytest.raises(SourceRefused, match="fewer columns"):
        list(source.read("account", ["name"], None))
    assert sleeps == []


def test_an_unknown_table_is_not_found(source):
    with pytest.raises(NotFound):
        source.describe("nosuchtable")
    with pytest.raises(NotFound):
        list(source.read("nosuchtable", None, None))
    with pytest.raises(NotFound):
        source.describe("account') or (LogicalName eq 'x")


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "12"})) == 12
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0
    assert retry_after_seconds(httpx.Response(429)) is None
