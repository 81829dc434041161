"""The start-up check of an S3 lake and the errors an operator sees: a store that ignores ``If-None-Match``
is refused, and a wrong bucket, a wrong secret or an endpoint that does not answer are told in plain words,
at ``flowservice serve``/``worker`` start-up and in a run's error — never with the secret."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flowservice.lake import DeltaLake
from flowservice.lake.s3_probe import PROBE_DIR, check_conditional_put
from flowservice.lake.store_errors import LakeUnavailable
from tests.fixtures.s3_server import BUCKET, S3Server
from tests.fixtures.server import free_port

from .tables import TABLE, accounts, commit

WRONG_SECRET = "not-the-secret-42"


class _Forgetful(BaseHTTPRequestHandler):
    """An "S3" that stores nothing and accepts every put, If-None-Match or not."""

    seen: list[str] = []

    def do_PUT(self) -> None:
        self.seen.append(self.headers.get("If-None-Match", ""))
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("ETag", '"0"')  # as every S3 answers a put
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # every listing is empty
        body = b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>'
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_DELETE(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def forgetful_store() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forgetful)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _message(root: str, options: dict[str, str]) -> str:
    with pytest.raises(LakeUnavailable) as caught:
        check_conditional_put(root, options)
    return caught.value.message


def test_seaweedfs_passes_the_check_and_the_probe_object_is_removed(s3_server: S3Server, s3_prefix: str):
    DeltaLake(s3_server.root(s3_prefix), s3_server.storage_options()).check_storage()

    assert s3_server.keys(f"{s3_prefix}/{PROBE_DIR}/") == []


def test_a_store_that_accepts_a_second_put_if_absent_is_refused_with_the_reason(
    s3_server: S3Server, forgetful_store: str
):
    message = _message("s3://lake/prefix", s3_server.storage_options(AWS_ENDPOINT_URL=forgetful_store))

    assert "does not honour conditional put" in message and "If-None-Match" in message
    assert _Forgetful.seen[-2:] == ["*", "*"]


def test_a_bucket_that_does_not_exist_is_named_as_the_cause(s3_server: S3Server):
    message = _message("s3://no-such-bucket-here/lake", s3_server.storage_options())

    assert "'no-such-bucket-here'" in message and "bucket does not exist" in message


def test_a_wrong_secret_is_named_as_the_cause_and_never_shown(s3_server: S3Server):
    message = _message(s3_server.root("lake"), s3_server.storage_options(AWS_SECRET_ACCESS_KEY=WRONG_SECRET))

    assert "refused the server's credentials" in message
    assert WRONG_SECRET not in message and s3_server.secret_key not in message


def test_an_endpoint_that_does_not_answer_is_named_as_the_cause(s3_server: S3Server):
    endpoint = f"http://127.0.0.1:{free_port()}"
    message = _message(s3_server.root("lake"), s3_server.storage_options(AWS_ENDPOINT_URL=endpoint))

    assert "does not answer" in message and endpoint in message


def test_without_static_credentials_the_check_says_how_to_give_them_or_skip_it(s3_server: S3Server, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    options = {k: v for k, v in s3_server.storage_options().items() if not k.startswith("AWS_SECRET")}

    message = _message(s3_server.root("lake"), options)

    assert "FLOWSERVICE_LAKE_S3_SECRET_ACCESS_KEY" in message
    assert "FLOWSERVICE_LAKE_S3_CHECK_CONDITIONAL_PUT=false" in message


def test_a_local_lake_needs_no_check(tmp_path: Path):
    DeltaLake(str(tmp_path / "lake")).check_storage()


@pytest.mark.parametrize(
    ("override", "cause"),
    [
        ({"AWS_SECRET_ACCESS_KEY": WRONG_SECRET}, "refused the server's credentials"),
        ({"bucket": "no-such-bucket-here"}, "bucket does not exist"),
        ({"AWS_ENDPOINT_URL": "closed port"}, "endpoint does not answer"),
    ],
)
def test_a_commit_on_a_lake_that_cannot_be_used_fails_with_the_cause_and_no_path(
    s3_server: S3Server, s3_prefix: str, override: dict[str, str], cause: str
):
    bucket = override.pop("bucket", BUCKET)
    if override.get("AWS_ENDPOINT_URL") == "closed port":
        override["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    lake = DeltaLake(f"s3://{bucket}/{s3_prefix}", s3_server.storage_options(**override))

    with pytest.raises(LakeUnavailable) as caught:
        commit(lake, accounts(("a", "Alpha", 1)), 1)

    message = caught.value.message
    assert cause in message and "re-trigger" in message
    assert bucket not in message and TABLE not in message and WRONG_SECRET not in message
    assert caught.value.status == 503


def _start(command: str, data_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "flowservice", command, "--data-dir", str(data_dir)]
    if command == "serve":
        args += ["--port", str(free_port())]
    return subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env}, timeout=120)


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    ("setting", "value", "cause"),
    [
        ("FLOWSERVICE_LAKE_S3_SECRET_ACCESS_KEY", WRONG_SECRET, "refused the server's credentials"),
        ("FLOWSERVICE_LAKE_ROOT", "s3://no-such-bucket-here/lake", "bucket does not exist"),
        ("FLOWSERVICE_LAKE_S3_ENDPOINT_URL", "closed port", "does not answer"),
    ],
)
def test_serve_and_worker_refuse_to_start_on_a_lake_that_cannot_be_used_with_one_clear_line(
    command: str, setting: str, value: str, cause: str, s3_server: S3Server, s3_prefix: str, tmp_path: Path
):
    value = f"http://127.0.0.1:{free_port()}" if value == "closed port" else value
    env = {**s3_server.env(s3_prefix), setting: value}

    done = _start(command, tmp_path / "data", env)

    assert done.returncode == 1
    assert "error: the lake's bucket" in done.stderr and cause in done.stderr
    assert "Traceback" not in done.stderr
    assert s3_server.secret_key not in done.stderr + done.stdout and WRONG_SECRET not in done.stderr + done.stdout


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_refuse_a_store_without_conditional_put(
    command: str, s3_server: S3Server, forgetful_store: str, tmp_path: Path
):
    env = {**s3_server.env("lake"), "FLOWSERVICE_LAKE_S3_ENDPOINT_URL": forgetful_store}

    done = _start(command, tmp_path / "data", env)

    assert done.returncode == 1
    assert "does not honour conditional put" in done.stderr and "Traceback" not in done.stderr
