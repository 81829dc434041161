"""Shared fixtures. Fixture modules live in ``tests/fixtures`` and are registered here."""

from pathlib import Path

pytest_plugins = ["tests.fixtures.server"]
if (Path(__file__).parent / "fixtures" / "emulator.py").exists():
    pytest_plugins.append("tests.fixtures.emulator")
