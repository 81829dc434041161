"""Fixtures for the Delta Lake adapter: a lake in a temporary folder."""

from __future__ import annotations

import pytest

from flowservice.lake import DeltaLake


@pytest.fixture
def lake(tmp_path) -> DeltaLake:
    return DeltaLake(str(tmp_path / "lake"))
