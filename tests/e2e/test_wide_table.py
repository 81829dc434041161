"""A table with 1,200 columns (``--wide-table``): a ``$select`` of all of them makes a URL longer than a
``GET`` may be, which the emulator refuses with 414 (as the IIS front end of Dataverse does); a flow still
lands every column of every row, each page read through ``$batch`` (its nextLinks too), with the values the
source holds."""

from __future__ import annotations

import decimal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crm_emulator.tables.wide import WIDE_COLUMNS, wide_column_name
from tests.e2e.stack import Stack, server_env

KEY = "cr6f1_widerecordid"
ENTITY_SET = "cr6f1_widerecords"


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    emulator = start_emulator(scale=200, seed=5, wide_table=True)  # 50 rows
    stack = Stack(emulator, tmp_path / "server", server_env(emulator, FLOWSERVICE_PAGE_SIZE="20"))
    stack.start()
    yield stack
    stack.stop()


def source_values(stack: Stack, columns: list[str]) -> dict[str, dict[str, Any]]:
    """Every row of the wide table as the emulator serves it, read in groups of 100 columns (short URLs)
    and joined by key: an independent reading of what the flow had to land."""
    rows: dict[str, dict[str, Any]] = {}
    with stack.emulator.client() as client:
        for start in range(0, len(columns), 100):
            url: str | None = f"{ENTITY_SET}?$select={','.join(columns[start : start + 100])}"
            while url:
                page = client.get(url, headers={"Prefer": "odata.maxpagesize=5000"}).json()
                for record in page["value"]:
                    rows.setdefault(record[KEY], {}).update({k: v for k, v in record.items() if not k.startswith("@")})
                url = page.get("@odata.nextLink")
    return rows


def same(landed: Any, source: Any) -> bool:
    if isinstance(landed, decimal.Decimal):
        return source is not None and landed == decimal.Decimal(str(source)).quantize(decimal.Decimal("0.01"))
    return bool(landed == source)


def test_a_select_of_every_column_is_too_long_for_a_get_and_the_emulator_answers_414(stack: Stack) -> None:
    select = ",".join([KEY, "cr6f1_name", *(wide_column_name(n) for n in range(WIDE_COLUMNS))])
    with stack.emulator.client() as client:
        response = client.get(f"{ENTITY_SET}?$select={select}")
        assert len(str(response.request.url)) > 32_768
        assert response.status_code == 414
        assert "The request URL is too long" in response.text
        short = client.get(f"{ENTITY_SET}?$select={KEY},cr6f1_name", headers={"Prefer": "odata.maxpagesize=5"})
        assert short.status_code == 200


def test_a_flow_lands_every_column_of_the_wide_table_with_the_values_of_the_source(stack: Stack) -> None:
    api = stack.api
    assert api is not None
    connection = stack.connection()
    described = api.call(
        "GET", f"/connections/{connection}/explore", params={"objectType": "table", "object": "cr6f1_widerecord"}
    )
    wide = [wide_column_name(n) for n in range(WIDE_COLUMNS)]
    assert set(wide) <= {c["name"] for c in described["schema"]["columns"]}
    preview = api.call(
        "GET",
        f"/connections/{connection}/explore",
        params={"objectType": "table", "object": "cr6f1_widerecord", "preview": "true"},
    )
    assert len(preview["data"]) == 10 and set(wide) <= set(preview["data"][0])

    flow = stack.flow(connection, "cr6f1_widerecord", "merge")
    run = stack.wait(stack.trigger(flow), timeout=300)
    assert run["metrics"]["statusSummary"]["status"] == "success", run

    landed = {row[KEY]: row for row in stack.dataset_rows(flow)}
    source = source_values(stack, [KEY, "cr6f1_name", *wide])
    assert len(landed) == len(source) == 50
    mismatches = [
        (key, column, row[column], source[key][column])
        for key, row in landed.items()
        for column in ["cr6f1_name", *wide]
        if not (row[column] is None and source[key][column] is None) and not same(row[column], source[key][column])
    ]
    assert mismatches == []
    assert sum(1 for row in landed.values() for column in wide if row[column] is not None) > 40 * WIDE_COLUMNS
    stats = stack.emulator.stats()["by_kind"]
    assert stats.get("url_too_long", 0) == 0, "the source sent a GET that was too long"
    assert stats["batch"] >= 3, "three pages of 20 rows (and the preview) come through $batch"

    changed = next(iter(source))
    column = wide_column_name(1)  # a whole number
    with stack.emulator.client() as client:
        client.patch(f"{ENTITY_SET}({changed})", json={column: 424242, "cr6f1_name": "changed"}).raise_for_status()
    # the delta link repeats the $select: $batch again, and a throttled batch is retried like any GET
    stack.emulator.set_faults([{"kind": "throttle", "path": "/api/data/v9.2/$batch", "count": 2, "retry_after": 1}])
    run = stack.wait(stack.trigger(flow), timeout=300)
    assert run["metrics"]["statusSummary"]["status"] == "success", run
    assert sum(stack.emulator.stats()["faults_fired"].values()) == 2
    landed = {row[KEY]: row for row in stack.dataset_rows(flow)}
    assert len(landed) == 50
    assert (landed[changed][column], landed[changed]["cr6f1_name"]) == (424242, "changed")
