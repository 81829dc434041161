"""Runs through the API and the engine with the lake in a real S3 bucket: a run lands exactly, a run whose
store refuses the credentials fails with the cause in its error (no bucket, path or secret), and once the
store is usable again re-triggering it lands the rest exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowservice.lake import DeltaLake
from flowservice.settings import Settings
from tests.fakes.source import FakeOrg, make_row
from tests.fixtures.s3_server import BUCKET, S3Server
from tests.fixtures.server import make_api
from tests.integration.engine.conftest import Harness

WRONG_SECRET = "not-the-secret-42"


@pytest.fixture
def s3_harness(tmp_path: Path, s3_server: S3Server, s3_prefix: str) -> Iterator[Harness]:
    settings = Settings(
        data_dir=tmp_path / "data",
        commit_every_rows=25,
        page_size=10,
        lake_root=s3_server.root(s3_prefix),
        lake_s3_endpoint_url=s3_server.endpoint_url,
        lake_s3_region=s3_server.region,
        lake_s3_allow_http=True,
        lake_s3_access_key_id=s3_server.access_key,
        lake_s3_secret_access_key=s3_server.secret_key,
    )
    org = FakeOrg()
    api = make_api(settings, sources=org)
    assert api.container is not None
    api.container.check_lake()
    yield Harness(api, org)
    api.container.close()


def test_a_run_lands_every_row_in_the_bucket_and_the_settings_hide_the_secret(s3_harness: Harness, s3_server: S3Server):
    table = s3_harness.org.add_table("account", rows=60)
    flow = s3_harness.flow("account")

    run = s3_harness.run(flow)

    assert {r["accountid"]: r for r in s3_harness.dataset(flow)} == table.rows
    assert run["metrics"]["recordSummary"]["outputRecordCount"] == 60
    assert s3_server.secret_key not in repr(s3_harness.container.settings)


def test_a_run_on_a_store_refusing_the_credentials_fails_with_the_cause_then_resumes_exactly_once(
    s3_harness: Harness, s3_server: S3Server, s3_prefix: str
):
    table = s3_harness.org.add_table("account", rows=40)
    flow = s3_harness.flow("account")
    s3_harness.run(flow)
    for i in range(40, 70):
        table.upsert(make_row(table, i, modified=900 + i))
    engine = s3_harness.container.run_engine
    good = engine.lake
    engine.lake = DeltaLake(s3_server.root(s3_prefix), s3_server.storage_options(AWS_SECRET_ACCESS_KEY=WRONG_SECRET))

    failed = s3_harness.run(flow, expect="failed")

    error = failed["metrics"]["statusSummary"]["errors"][0]
    assert error["code"] == "FLOW-1103-503"
    assert "refused the server's credentials" in error["message"]
    assert BUCKET not in error["message"] and s3_prefix not in error["message"] and WRONG_SECRET not in str(failed)

    engine.lake = good
    s3_harness.run(flow)
    landed = [r["accountid"] for r in s3_harness.dataset(flow)]
    assert len(landed) == len(set(landed)) == 70 and set(landed) == set(table.rows)


def test_reading_a_dataset_on_a_store_refusing_the_credentials_answers_503_with_the_flow_service_body(
    s3_harness: Harness, s3_server: S3Server, s3_prefix: str
):
    s3_harness.org.add_table("account", rows=5)
    flow = s3_harness.flow("account")
    s3_harness.run(flow)
    catalog = s3_harness.container.catalog
    catalog.lake = DeltaLake(s3_server.root(s3_prefix), s3_server.storage_options(AWS_SECRET_ACCESS_KEY=WRONG_SECRET))

    answer = s3_harness.api.get(f"/data/foundation/catalog/dataSets/{flow.dataset_id}")

    assert answer.status_code == 503
    body = answer.json()
    assert body["type"].endswith("FLOW-1103-503") and body["title"] == "Lake storage unavailable"
    assert "refused the server's credentials" in answer.text
    assert BUCKET not in answer.text and WRONG_SECRET not in answer.text
