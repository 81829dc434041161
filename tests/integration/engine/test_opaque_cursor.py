"""The engine never reads inside a source's cursor: a source whose cursors are sealed tokens resumes, dedups
its watermark overlap and detects (or, resumed mid-read, does not detect) deletes exactly like the others."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from flowservice.ports import CursorInfo, Page
from flowservice.settings import Settings
from tests.fakes.source import FakeOrg, FakeSource, make_row
from tests.fixtures.server import make_api
from tests.integration.engine.conftest import Harness


class SealedSource(FakeSource):
    """The fake source, each of its cursors sealed in one string that only the source opens."""

    def read(
        self,
        table: str,
        columns: list[str] | None,
        cursor: dict[str, Any] | None,
        *,
        delta_column: str | None = None,
        page_size: int = 5000,
    ) -> Iterator[Page]:
        inner = orjson.loads(cursor["sealed"]) if cursor else None
        for page in super().read(table, columns, inner, delta_column=delta_column, page_size=page_size):
            yield dataclasses.replace(page, cursor={"sealed": orjson.dumps(page.cursor).decode()})

    def cursor_info(self, cursor: dict[str, Any]) -> CursorInfo:
        return super().cursor_info(orjson.loads(cursor["sealed"]))


class SealedOrg(FakeOrg):
    def __call__(self, spec_id: str, auth_spec_name: str, params: Mapping[str, Any]) -> FakeSource:
        return SealedSource(self)


@pytest.fixture
def sealed(tmp_path: Path) -> Iterator[Harness]:
    org = SealedOrg()
    api = make_api(Settings(data_dir=tmp_path / "data", commit_every_rows=25, page_size=10), sources=org)
    yield Harness(api, org)
    assert api.container is not None
    api.container.close()


def last_source_cursor(harness: Harness, dataset_id: str, flow_id: str) -> dict[str, Any]:
    path = harness.container.catalog.dataset(harness.tenant, dataset_id).doc["lake"]["path"]
    last = harness.container.lake.last_commit(path, flow_id)
    assert last is not None
    return dict(last.cursor["source"])


def test_a_sealed_watermark_cursor_still_drops_the_rows_its_inclusive_bound_reads_again(sealed: Harness) -> None:
    table = sealed.org.add_table("cr6f1_project", change_tracking=False, rows=30)  # 3 rows per modifiedon
    flow = sealed.flow("cr6f1_project", mode="append")
    sealed.run(flow)
    table.upsert(make_row(table, 500, modified=9))  # shares the last watermark second
    table.upsert(make_row(table, 501, modified=50))
    sealed.run(flow)

    ids = [r["cr6f1_projectid"] for r in sealed.dataset(flow)]
    assert len(ids) == len(set(ids)) == 32
    assert list(last_source_cursor(sealed, flow.dataset_id, flow.id)) == ["sealed"]


def test_a_full_resync_resumed_mid_read_from_a_sealed_cursor_ends_equal_to_the_source(sealed: Harness) -> None:
    table = sealed.org.add_table("account", rows=60)
    flow = sealed.flow("account")
    sealed.run(flow)
    gone = sorted(table.rows)[-1]
    table.delete(gone)
    table.log.clear()  # the change log no longer covers the flow's token: the next read is a full one
    sealed.org.faults.expire_delta_token = True
    sealed.org.faults.pages_served, sealed.org.faults.fail_after_pages = 0, 3  # one commit of 30 rows lands
    failed = sealed.run(flow, expect="failed")
    assert sealed.api.post(f"/runs/{failed['id']}/action", params={"op": "re-trigger"}).status_code == 200
    assert sealed.container.worker().run_once()

    run = sealed.api.get(f"/runs/{failed['id']}").json()["items"][0]
    assert run["metrics"]["statusSummary"]["status"] == "success"
    assert "CONNECTOR-3001-200" in [e["code"] for e in run["metrics"]["statusSummary"]["errors"]]
    landed = [r["accountid"] for r in sealed.dataset(flow)]
    assert sorted(landed) == sorted(table.rows)  # each row once, none read before the interruption lost
    assert gone not in landed  # the delete before the interruption found by reading the keys again
