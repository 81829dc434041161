from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flowservice.sources.dynamics import DynamicsSettings, DynamicsSource, clear_caches

from .fake_dataverse import CLIENT_ID, CLIENT_SECRET, ORG, PASSWORD, PUBLIC_IP, USERNAME, FakeDataverse, sample_org


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


@pytest.fixture
def fake() -> FakeDataverse:
    return sample_org()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def settings(fake: FakeDataverse, sleeps: list[float]) -> DynamicsSettings:
    return DynamicsSettings(
        transport=fake.transport(),
        resolver=lambda host, port: [PUBLIC_IP],
        sleep=sleeps.append,
        max_retries=3,
        # these tests pin the single chain, request by request; partitioned reads (which begin with a key-only
        # scan) are tested against the emulator in tests/integration/sources/test_partitioned_reads.py
        partition_min_rows=0,
    )


SourceMaker = Callable[..., DynamicsSource]


@pytest.fixture
def make_source(settings: DynamicsSettings) -> SourceMaker:
    def make(kind: str = "basic", settings_: DynamicsSettings | None = None, **overrides: Any) -> DynamicsSource:
        if kind == "basic":
            params = {"serviceUri": ORG, "username": USERNAME, "password": PASSWORD}
        else:
            params = {"serviceUri": ORG, "servicePrincipalId": CLIENT_ID, "servicePrincipalKey": CLIENT_SECRET}
        params.update(overrides)
        return DynamicsSource(params, auth_kind=kind, settings=settings_ or settings)  # type: ignore[arg-type]

    return make


@pytest.fixture
def source(make_source: SourceMaker) -> Iterator[DynamicsSource]:
    src = make_source()
    yield src
    src.close()
