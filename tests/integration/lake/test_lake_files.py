"""Files beside a dataset (``Lake.put_file``, ``lake/files.py``) on a folder and on a real S3 server: stored
whole at ``<table>/_files/<column>/<key>``, replaced by a rewrite, never left half-written, never vacuumed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowservice.domain.errors import InvalidRequest
from flowservice.lake import DeltaLake
from tests.fixtures.s3_server import BUCKET, S3Server

from .tables import TABLE, accounts, commit

KEY = "6c1d2a8e-0000-4000-8000-000000000001"


class Broken(Exception):
    pass


def chunks(*parts: bytes, fail: bool = False) -> Iterator[bytes]:
    yield from parts
    if fail:
        raise Broken


@pytest.fixture(params=["folder", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> DeltaLake:
    if request.param == "folder":
        return DeltaLake(str(tmp_path / "lake"))
    s3: S3Server = request.getfixturevalue("s3_server")
    prefix: str = request.getfixturevalue("s3_prefix")
    return DeltaLake(s3.root(prefix), s3.storage_options())


def test_a_file_is_stored_whole_beside_the_table_and_reads_back_byte_equal(lake: DeltaLake) -> None:
    assert lake.file_size(TABLE, "contract", KEY) is None
    size = lake.put_file(TABLE, "contract", KEY, chunks(b"a" * 5000, b"b" * 3), 5003)
    assert size == 5003
    assert lake.file_size(TABLE, "contract", KEY) == 5003
    assert read_back(lake, "contract", KEY) == b"a" * 5000 + b"bbb"


def test_writing_the_same_key_again_replaces_the_object(lake: DeltaLake) -> None:
    lake.put_file(TABLE, "contract", KEY, chunks(b"first"), None)
    lake.put_file(TABLE, "contract", KEY, chunks(b"second!"), 7)
    assert read_back(lake, "contract", KEY) == b"second!"


def test_a_download_that_fails_half_way_leaves_no_object(lake: DeltaLake) -> None:
    with pytest.raises(Broken):
        lake.put_file(TABLE, "contract", KEY, chunks(b"x" * 1000, fail=True), 2000)
    assert lake.file_size(TABLE, "contract", KEY) is None


def test_contents_of_another_length_than_announced_are_refused_and_not_kept(lake: DeltaLake) -> None:
    with pytest.raises(InvalidRequest):
        lake.put_file(TABLE, "contract", KEY, chunks(b"short"), 10)
    assert lake.file_size(TABLE, "contract", KEY) is None


@pytest.mark.parametrize("name", ["..", ".hidden", "a/b", "", "x" * 200])
def test_a_column_or_key_that_is_not_one_plain_path_segment_is_refused(lake: DeltaLake, name: str) -> None:
    with pytest.raises(InvalidRequest):
        lake.put_file(TABLE, name, KEY, chunks(b"x"), 1)
    with pytest.raises(InvalidRequest):
        lake.file_size(TABLE, "contract", name)


def test_optimize_keeps_the_files_beside_the_table(lake: DeltaLake) -> None:
    commit(lake, accounts(("a", "Alpha", 1)), 1)
    commit(lake, accounts(("b", "Beta", 2)), 2)
    lake.put_file(TABLE, "contract", KEY, chunks(b"kept"), 4)
    lake.optimize(TABLE, retention_hours=0)
    assert read_back(lake, "contract", KEY) == b"kept"


def test_dropping_the_dataset_drops_its_files(lake: DeltaLake) -> None:
    commit(lake, accounts(("a", "Alpha", 1)), 1)
    lake.put_file(TABLE, "contract", KEY, chunks(b"gone"), 4)
    lake.drop(TABLE)
    assert lake.file_size(TABLE, "contract", KEY) is None


def read_back(lake: DeltaLake, column: str, key: str) -> bytes:
    """The object's bytes as a reader of the lake sees them (a file, or the S3 object through boto3)."""
    uri = lake.location(f"{TABLE}/_files/{column}/{key}")
    if not uri.startswith("s3://"):
        return Path(uri).read_bytes()
    import boto3

    options = lake._storage.options
    client = boto3.client(
        "s3",
        endpoint_url=options["AWS_ENDPOINT_URL"],
        aws_access_key_id=options["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=options["AWS_SECRET_ACCESS_KEY"],
        region_name=options.get("AWS_REGION"),
    )
    assert uri.startswith(f"s3://{BUCKET}/")
    body: bytes = client.get_object(Bucket=BUCKET, Key=uri[len(f"s3://{BUCKET}/") :])["Body"].read()
    return body
