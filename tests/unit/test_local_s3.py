"""The local S3 launcher fails loudly: a ``weed`` that dies at start-up is reported with its log, and nothing
is left running."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowservice import local_s3


def test_a_weed_that_exits_at_start_up_is_reported_with_its_output(monkeypatch, tmp_path: Path) -> None:
    fake = tmp_path / "weed"
    fake.write_text("#!/bin/sh\necho 'weed: cannot bind its ports' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(local_s3, "weed_binary", lambda: str(fake))

    with pytest.raises(local_s3.LocalS3Error, match="exited at start-up") as caught:
        local_s3.start(tmp_path / "s3")

    assert "cannot bind its ports" in str(caught.value)


def test_the_lake_settings_name_the_bucket_prefix_and_the_endpoint_of_the_server(tmp_path: Path) -> None:
    server = local_s3.LocalS3("http://127.0.0.1:9", "key", "secret", "us-east-1", process=None, log=tmp_path)  # type: ignore[arg-type]

    env = server.env("demo")

    assert env["FLOWSERVICE_LAKE_ROOT"] == f"s3://{local_s3.BUCKET}/demo"
    assert env["FLOWSERVICE_LAKE_S3_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert env["FLOWSERVICE_LAKE_S3_ALLOW_HTTP"] == "true"
