"""Bounds on what one connection may hold: answers by decoded bytes, and the per-connection cache by size and
idle time (a deleted or patched connection releases its entry)."""

from __future__ import annotations

import gzip
import zlib

import pytest

from flowservice.sources.dynamics import DynamicsSettings, DynamicsSourceFactory
from flowservice.sources.dynamics.auth import Credentials, TokenProvider
from flowservice.sources.dynamics.cache import ConnectionCache
from flowservice.sources.net.bodies import ResponseTooLarge, _Inflater

from .fake_dataverse import ORG, PASSWORD, USERNAME


def test_a_page_larger_than_the_page_limit_is_refused_with_a_clear_error(make_source, settings):
    small = DynamicsSettings(**{**settings.__dict__, "max_page_bytes": 200})
    source = make_source(settings_=small)
    source.check()
    with pytest.raises(ResponseTooLarge, match="exceeds the limit of 200 bytes"):
        list(source.read("account", ["name"], None))


def test_pages_within_the_limit_read_as_before(source):
    assert sum(p.batch.num_rows for p in source.read("account", ["name"], None)) == 5


def test_the_inflater_never_produces_more_than_the_limit_allows_from_a_bomb():
    bomb = gzip.compress(bytes(50 * 2**20))  # 50 MiB of zeros in about 50 KiB
    produced = sum(len(chunk) for chunk in _Inflater("gzip").feed(bomb, 1000))
    assert 1000 < produced <= 1001


def test_the_inflater_reads_several_gzip_members_and_raw_deflate():
    members = gzip.compress(b"hello ") + gzip.compress(b"world")
    assert b"".join(_Inflater("gzip").feed(members, 1 << 20)) == b"hello world"
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = raw.compress(b"raw deflate") + raw.flush()
    assert b"".join(_Inflater("deflate").feed(body, 1 << 20)) == b"raw deflate"


def provider(settings: DynamicsSettings) -> TokenProvider:
    return TokenProvider(
        "https://login.microsoftonline.com/t", Credentials("basic", "c", USERNAME, PASSWORD), ORG, settings
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_connection_cache_keeps_at_most_its_size_and_drops_the_least_recently_used(settings):
    cache = ConnectionCache(max_entries=3, idle_seconds=3600)
    for n in range(3):
        cache.limiter(f"c{n}:k", 4)
    cache.limiter("c0:k", 4)  # c0 used again: c1 is now the least recently used
    cache.limiter("c3:k", 4)
    assert len(cache) == 3
    assert cache.authorities("c1:k") == [] and cache._entries.keys() == {"c0:k", "c2:k", "c3:k"}


def test_an_idle_connection_is_dropped_after_its_idle_time_and_its_tokens_released(settings):
    clock = Clock()
    cache = ConnectionCache(max_entries=10, idle_seconds=60, clock=clock)
    released: list[str] = []
    token_provider = provider(settings)
    token_provider.close = lambda: released.append("closed")  # type: ignore[method-assign]
    cache.token_provider("idle:k", "https://login.microsoftonline.com/t", lambda: token_provider)
    clock.now += 59
    cache.limiter("busy:k", 4)
    assert len(cache) == 2
    clock.now += 2
    assert len(cache) == 1 and cache.authorities("idle:k") == []
    assert released == ["closed"]


def test_invalidating_a_connection_releases_every_entry_of_its_id(settings):
    factory = DynamicsSourceFactory(settings)
    for key in ("conn-1:a", "conn-1:b", "conn-2:a"):
        factory.cache.limiter(key, 4)
    factory.invalidate("conn-1")
    assert len(factory.cache) == 1


def test_a_token_provider_keeps_no_http_client_open_between_sign_ins(source, fake):
    source.check()
    provider_ = next(iter(source._cache._entries.values())).tokens
    assert all(not hasattr(p._http, "_client") for p in provider_.values())
