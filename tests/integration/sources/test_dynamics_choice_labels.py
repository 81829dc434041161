"""Choice labels at the source, against an emulator with CRM semantics over HTTPS: which renames make a read
start over, and labels on partitioned reads. Each test has its own org: they rename labels."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pyarrow as pa
import pytest

from flowservice.ports import Page
from flowservice.sources.dynamics import DynamicsSource, clear_caches

from .dynamics_helpers import settings_for


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def labelled_source(emulator: Any, **settings: Any) -> DynamicsSource:
    params = {
        "serviceUri": emulator.org_url,
        "username": emulator.username,
        "password": emulator.password,
        "_sourceOptions": {"choiceLabels": True},
    }
    return DynamicsSource(params, auth_kind="basic", settings=settings_for(emulator, **settings))


def read(emulator: Any, columns: list[str] | None, cursor: dict[str, Any] | None, **settings: Any) -> list[Page]:
    """Every page of one read of account, by a source opened (and closed) for it, 30 rows a page."""
    with closing(labelled_source(emulator, **settings)) as source:
        return list(source.read("account", columns, cursor, page_size=30))


def relabel(emulator: Any, column: str, value: int, label: str) -> None:
    with httpx.Client(base_url=emulator.org_url, verify=emulator.verify, timeout=30) as admin:
        answer = admin.post(
            "/_emulator/metadata/account", json={"op": "relabel", "column": column, "value": value, "label": label}
        )
        answer.raise_for_status()


def test_only_a_rename_of_a_label_the_read_carries_makes_the_next_read_start_over(start_emulator) -> None:
    emulator = start_emulator(scale=80, seed=11, crm_semantics=True)
    columns = ["name", "industrycode", "industrycode_label"]
    first = read(emulator, columns, None)
    rows = pa.Table.from_batches([p.batch for p in first]).to_pylist()
    assert "labels" in first[-1].cursor and not any(p.full_resync for p in first)
    relabel(emulator, "customertypecode", 1, "Somebody else's column")  # the connection cache is warm: a run
    unrelated = read(emulator, columns, first[-1].cursor)  # reads the option sets afresh all the same
    assert not any(p.full_resync for p in unrelated)  # an incremental read: nothing it carries changed
    value = next(r["industrycode"] for r in rows if r["industrycode"] is not None)
    relabel(emulator, "industrycode", value, "Bookkeeping")
    again = read(emulator, columns, unrelated[-1].cursor)
    assert again and all(p.full_resync for p in again)
    reread = pa.Table.from_batches([p.batch for p in again]).to_pylist()
    assert len(reread) == len(rows)
    assert {r["industrycode_label"] for r in reread if r["industrycode"] == value} == {"Bookkeeping"}
    assert again[-1].cursor["labels"] != first[-1].cursor["labels"]


def test_a_partitioned_first_read_carries_labels_and_lists_on_every_page(start_emulator) -> None:
    emulator = start_emulator(scale=300, seed=12, crm_semantics=True)
    settings = {
        "partition_min_rows": 50,
        "partition_below_rows_per_second": 0,
        "partition_page_rows": 30,
        "partition_concurrency": 3,
    }
    pages = read(emulator, None, None, **settings)
    table = pa.Table.from_batches([p.batch for p in pages if p.batch.num_rows])
    assert table.num_rows == 300 and any(p.cursor.get("mode") == "partitioned" for p in pages)
    assert table.schema.field("cr6f1_servicelines_label").type == pa.list_(pa.string())
    assert all(p.cursor["labels"] == pages[0].cursor["labels"] for p in pages)
    states = set(table.column("statecode_label").to_pylist())
    assert states and states <= {"Active", "Inactive"}
