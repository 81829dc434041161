"""Worker processes reading one connection at once each keep to their share of its concurrency: the heartbeat
counts them (``RunQueue.connection_readers``) and the sources cap each process's limiter at its share."""

from __future__ import annotations

from flowservice.ports import worker_process
from flowservice.sources.dynamics import DYNAMICS_SPEC_ID, DynamicsSettings, DynamicsSourceFactory
from flowservice.sources.dynamics.cache import ConnectionCache
from flowservice.sources.net.limiter import AdaptiveLimiter
from flowservice.sources.registry import SourceDispatch


def test_a_limiter_shared_by_three_processes_keeps_a_third_of_its_maximum_and_grows_back_once_alone() -> None:
    limiter = AdaptiveLimiter(16)
    limiter.share(3)
    assert (limiter.maximum, limiter.limit) == (5, 5)
    for _ in range(10 * AdaptiveLimiter.GROW_AFTER):
        limiter.succeeded()
    assert limiter.limit == 5, "successes never take it above its share"
    limiter.share(1)
    for _ in range(11 * AdaptiveLimiter.GROW_AFTER):
        limiter.succeeded()
    assert (limiter.maximum, limiter.limit) == (16, 16)


def test_a_share_never_leaves_a_process_without_a_slot_and_a_hint_starts_within_the_share() -> None:
    limiter = AdaptiveLimiter(16)
    limiter.share(40)
    assert limiter.limit == 1
    limiter.share(2)
    limiter.hint(12)
    assert limiter.limit == 8


def test_the_connection_cache_shares_the_limiters_of_that_connection_only_those_open_and_those_to_come() -> None:
    cache = ConnectionCache()
    open_one, other = cache.limiter("conn-a:digest1", 16), cache.limiter("conn-b:digest1", 16)
    cache.share("conn-a", 4)
    later = cache.limiter("conn-a:digest2", 16)
    assert (open_one.maximum, later.maximum, other.maximum) == (4, 4, 16)
    cache.share("conn-a", 1)
    assert open_one.maximum == later.maximum == 16
    assert cache.limiter("conn-a:digest3", 16).maximum == 16


def test_the_source_dispatch_hands_a_share_to_the_dynamics_factory() -> None:
    factory = DynamicsSourceFactory(DynamicsSettings())
    SourceDispatch({DYNAMICS_SPEC_ID: factory}).share("conn-a", 2)
    assert factory.cache.limiter("conn-a:digest", 16).maximum == 8


def test_a_worker_id_names_its_process_without_its_tag_or_job() -> None:
    assert worker_process("host:4242:a1b2c3") == "host:4242"
    assert worker_process("host:4242:a1b2c3/17") == "host:4242"
    assert worker_process("w1") == "w1"
