"""Shared fixtures. Fixture modules live in ``tests/fixtures`` and are registered here."""

pytest_plugins = ["tests.fixtures.server", "tests.fixtures.emulator", "tests.fixtures.hostile"]
