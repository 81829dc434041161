"""Within one commit window, changes apply in the source's order (delete then re-create keeps the row;
upsert then delete removes it), in merge and append mode."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from flowservice.ports import Page
from flowservice.settings import Settings
from tests.fakes.source import FakeOrg, FakeSource, make_row
from tests.fixtures.server import make_api
from tests.integration.engine.conftest import Harness


class ScriptedOrg(FakeOrg):
    """A fake org whose next incremental read serves the given pages instead of its change log."""

    def __init__(self) -> None:
        super().__init__()
        self.script: list[tuple[list[dict[str, Any]], list[str]]] | None = None

    def __call__(self, spec_id: str, auth_spec_name: str, params: Mapping[str, Any]) -> FakeSource:
        return ScriptedSource(self)


class ScriptedSource(FakeSource):
    org: ScriptedOrg

    def read(
        self,
        table: str,
        columns: list[str] | None,
        cursor: dict[str, Any] | None,
        *,
        delta_column: str | None = None,
        page_size: int = 5000,
    ) -> Iterator[Page]:
        script, self.org.script = self.org.script, None
        if script is None or not cursor:
            yield from super().read(table, columns, cursor, delta_column=delta_column, page_size=page_size)
            return
        schema = self.org.tables[table].schema().arrow_schema()
        for index, (upserts, deletes) in enumerate(script):
            final = index == len(script) - 1
            yield Page(
                pa.RecordBatch.from_pylist(upserts, schema=schema),
                deletes,
                cursor if final else {**cursor, "offset": index + 1},
                final,
            )


@pytest.fixture
def scripted(tmp_path: Path) -> Iterator[tuple[Harness, ScriptedOrg]]:
    org = ScriptedOrg()
    api = make_api(Settings(data_dir=tmp_path / "data", commit_every_rows=25, page_size=10), sources=org)
    yield Harness(api, org), org
    assert api.container is not None
    api.container.close()


@pytest.mark.parametrize("mode", ["merge", "append"])
def test_a_key_deleted_then_re_created_in_one_commit_keeps_the_new_row(
    scripted: tuple[Harness, ScriptedOrg], mode: str
) -> None:
    harness, org = scripted
    table = org.add_table("account", rows=10)
    flow = harness.flow("account", mode=mode)
    harness.run(flow)
    recreated = make_row(table, 3, modified=100, name="re-created")
    doomed = dict(table.rows[make_row(table, 5, modified=0)["accountid"]], name="updated")
    org.script = [([], [recreated["accountid"]]), ([recreated, doomed], []), ([], [doomed["accountid"]])]
    run = harness.run(flow)
    assert run["metrics"]["fileSummary"]["outputFileCount"] == 1  # the three pages share one commit
    rows = harness.dataset(flow)
    if mode == "merge":
        names = {r["accountid"]: r["name"] for r in rows}
        assert names[recreated["accountid"]] == "re-created"
        assert doomed["accountid"] not in names and len(names) == 9
    else:
        second = max(r["_change_time"] for r in rows)
        changes = sorted((r["accountid"], r["_change_type"], r["name"]) for r in rows if r["_change_time"] == second)
        assert changes == [(recreated["accountid"], "upsert", "re-created"), (doomed["accountid"], "delete", None)]
