"""The source contract for Dynamics, against a local emulator over real HTTPS (its own CA, verification on).

The contract writes rows (to prove incremental reads), so it runs against a private emulator instance rather
than the session-wide one other suites read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flowservice.sources.dynamics import DynamicsSource, clear_caches
from tests.fixtures.emulator import EmulatorHandle, launch

from .contract import SourceContract
from .dynamics_helpers import basic_source, write_client


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


@pytest.fixture(scope="module")
def private_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    handle = launch(tmp_path_factory.mktemp("dynamics-contract"), scale=120, seed=11)
    try:
        yield handle
    finally:
        handle.stop()


class TestDynamicsSourceContract(SourceContract):
    @pytest.fixture
    def source(self, private_emulator: EmulatorHandle) -> Iterator[DynamicsSource]:
        src = basic_source(private_emulator)
        yield src
        src.close()

    @pytest.fixture
    def bad_credentials_source(self, private_emulator: EmulatorHandle) -> Iterator[DynamicsSource]:
        src = basic_source(private_emulator, password="not-the-password")
        yield src
        src.close()

    @pytest.fixture
    def table(self) -> str:
        return "account"

    @pytest.fixture
    def change(self, private_emulator: EmulatorHandle) -> Callable[[], tuple[set[str], set[str]]]:
        def change() -> tuple[set[str], set[str]]:
            with write_client(private_emulator) as client:
                ids = [r["accountid"] for r in client.get("accounts?$select=accountid&$top=3").json()["value"]]
                created = client.post(
                    "accounts", json={"name": "Contract Test Ltd"}, headers={"Prefer": "return=representation"}
                ).json()["accountid"]
                client.patch(f"accounts({ids[0]})", json={"name": "Renamed by the contract"}).raise_for_status()
                client.delete(f"accounts({ids[1]})").raise_for_status()
            return {created.lower(), ids[0].lower()}, {ids[1].lower()}

        return change

    @pytest.fixture
    def throttle(self, private_emulator: EmulatorHandle) -> Iterator[Callable[[], None]]:
        def throttle() -> None:
            private_emulator.set_faults([{"kind": "throttle", "table": "account", "count": 2, "retry_after": 1}])

        yield throttle
        stats = private_emulator.stats()
        private_emulator.clear_faults()
        assert stats["faults_by_kind"].get("throttle") == 2, "the throttling fault never fired"

    @pytest.fixture
    def read_kwargs(self) -> dict[str, Any]:
        return {"page_size": 40}
