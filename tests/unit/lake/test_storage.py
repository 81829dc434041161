"""Where tables live: local folders and S3-compatible buckets, and paths that must stay inside the root."""

from __future__ import annotations

import pytest

from flowservice.domain.errors import InvalidRequest
from flowservice.lake.storage import Storage, s3_options


def test_local_roots_resolve_to_absolute_folders(tmp_path):
    storage = Storage(f"file://{tmp_path}/lake")

    assert storage.is_local
    assert storage.uri("org/sandbox/datasets/d1") == f"{tmp_path}/lake/org/sandbox/datasets/d1"


def test_bucket_roots_keep_their_scheme_and_options():
    storage = Storage("s3://bucket/prefix/", s3_options(endpoint_url="http://minio:9000", allow_http=True))

    assert not storage.is_local
    assert storage.uri("/org/sandbox/datasets/d1/") == "s3://bucket/prefix/org/sandbox/datasets/d1"
    assert storage.options == {
        "aws_conditional_put": "etag",
        "AWS_ENDPOINT_URL": "http://minio:9000",
        "AWS_ALLOW_HTTP": "true",
    }


@pytest.mark.parametrize("path", ["..", "a/../b", "a/./b", "a//b", "s3://other/x"])
def test_paths_that_could_leave_the_root_are_refused(path):
    with pytest.raises(InvalidRequest):
        Storage("s3://bucket/prefix").uri(path)


def test_an_s3_lake_takes_its_credentials_from_the_settings_and_keeps_the_secret_out_of_their_repr():
    from flowservice.bootstrap import lake_storage_options
    from flowservice.settings import Settings

    settings = Settings(
        lake_root="s3://bucket/prefix",
        lake_s3_endpoint_url="https://store.example:9000",
        lake_s3_access_key_id="key-id",
        lake_s3_secret_access_key="the-secret-value",
    )

    assert lake_storage_options(settings) == {
        "aws_conditional_put": "etag",
        "AWS_ACCESS_KEY_ID": "key-id",
        "AWS_SECRET_ACCESS_KEY": "the-secret-value",
        "AWS_ENDPOINT_URL": "https://store.example:9000",
    }
    assert "the-secret-value" not in repr(settings) and "the-secret-value" not in str(settings)
    assert lake_storage_options(Settings(lake_root="/srv/lake")) is None
