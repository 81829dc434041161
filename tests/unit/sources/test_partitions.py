"""The pure parts of partitioned reads and of the limiter they lean on: SQL Server's key order, the delta link
the read ends with, a hint that starts the limit and 429s that halve it once per round."""

from __future__ import annotations

import random
import uuid

from crm_emulator.ids import sql_key
from flowservice.sources.dynamics.partitions import sql_order
from flowservice.sources.dynamics.reader import with_select
from flowservice.sources.net.limiter import AdaptiveLimiter


def test_sql_order_sorts_guids_as_sql_server_compares_uniqueidentifiers() -> None:
    rng = random.Random(5)
    guids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(500)]
    assert sorted(guids, key=sql_order) == sorted(guids, key=sql_key)
    assert sorted(guids, key=sql_order) != sorted(guids), "not the string order"


def test_the_final_delta_link_asks_for_the_flows_columns_and_keeps_the_token_verbatim() -> None:
    link = "https://org.example/api/data/v9.2/accounts?$select=accountid&$deltatoken=919042%2108%2f22%2f2017"
    rewritten = with_select(link, "accountid,name,modifiedon")
    assert rewritten == (
        "https://org.example/api/data/v9.2/accounts?$select=accountid,name,modifiedon"
        "&$deltatoken=919042%2108%2f22%2f2017"
    )


def test_a_ramped_hint_starts_the_limit_there_and_each_success_raises_it_until_the_first_429() -> None:
    limiter = AdaptiveLimiter(16)
    limiter.hint(4, ramp=True)
    assert limiter.limit == 4
    for _ in range(5):
        with limiter.slot():
            pass
        limiter.succeeded()
    assert limiter.limit == 9
    limiter.throttled()
    assert limiter.limit == 4
    for _ in range(5):
        limiter.succeeded()
    assert limiter.limit == 4, "after a 429 the limit grows only after a run of successes"


def test_a_plain_hint_starts_the_limit_without_ramping() -> None:
    limiter = AdaptiveLimiter(16)
    limiter.hint(3)
    limiter.succeeded()
    assert limiter.limit == 3


def test_the_429s_of_one_round_halve_the_limit_once() -> None:
    limiter = AdaptiveLimiter(16)
    slots = [limiter.slot() for _ in range(8)]
    for slot in slots:
        slot.__enter__()
    slots.pop().__exit__(None, None, None)
    limiter.throttled()  # the first 429 of the round: 16 -> 8
    for slot in slots:  # the other seven were in flight already, and are refused too
        slot.__exit__(None, None, None)
        limiter.throttled()
    assert limiter.limit == 8
    with limiter.slot():
        pass
    for _ in range(8):  # a new round's 429 halves again
        with limiter.slot():
            pass
    limiter.throttled()
    assert limiter.limit == 4
