"""The operator's routes of an in-process app over real SQLite and PostgreSQL (and a real S3 server):
``/health``, ``/ready`` (503 with the reason when the database or the lake is gone) and who may read ``/metrics``."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from flowservice.api.app import create_app
from flowservice.bootstrap import Container, build
from flowservice.settings import Settings
from tests.fixtures.s3_server import S3Server
from tests.fixtures.server import postgres_server, postgres_url

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
    assert str(blocker) not in message


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


def s3_settings(tmp_path: Path, server: S3Server, prefix: str, **changes: str) -> Settings:
    env = {**server.env(prefix), **changes}
    return Settings(
        data_dir=tmp_path / "data",
        lake_root=env["FLOWSERVICE_LAKE_ROOT"],
        lake_s3_endpoint_url=env["FLOWSERVICE_LAKE_S3_ENDPOINT_URL"],
        lake_s3_region=env["FLOWSERVICE_LAKE_S3_REGION"],
        lake_s3_allow_http=True,
        lake_s3_access_key_id=env["FLOWSERVICE_LAKE_S3_ACCESS_KEY_ID"],
        lake_s3_secret_access_key=env["FLOWSERVICE_LAKE_S3_SECRET_ACCESS_KEY"],
    )


def test_ready_lists_an_s3_lake_and_is_503_naming_a_missing_bucket_or_refused_credentials(
    s3_server: S3Server, s3_prefix: str, tmp_path: Path
) -> None:
    cases = {
        "right": {},
        "no bucket": {"FLOWSERVICE_LAKE_ROOT": f"s3://no-such-bucket/{s3_prefix}"},
        "wrong secret": {"FLOWSERVICE_LAKE_S3_SECRET_ACCESS_KEY": "not-the-secret-4242"},
    }
    answers = {}
    for name, changes in cases.items():
        built = build(s3_settings(tmp_path / name.replace(" ", "-"), s3_server, s3_prefix, **changes))
        try:
            answers[name] = (client(built).get("/ready"), client(built, ("203.0.113.7", 40000)).get("/ready"))
        finally:
            built.close()
    assert answers["right"][0].status_code == 200, answers["right"][0].text
    for name, expected in (
        ("no bucket", "its bucket does not exist"),
        ("wrong secret", "it refused the server's credentials"),
    ):
        local, remote = answers[name]
        assert local.status_code == remote.status_code == 503
        operator = local.json()["report"]["detailed-message"]
        tenant = remote.json()["report"]["detailed-message"]
        assert operator.startswith(f"The lake is not reachable: {expected}"), operator
        assert tenant.startswith(f"The lake is not reachable: {expected}"), tenant
        assert "listing s3://" in operator
        assert "s3://" not in tenant and s3_server.endpoint_url not in tenant
        assert "not-the-secret-4242" not in operator + tenant
