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
