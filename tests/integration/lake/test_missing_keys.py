"""``missing_keys``: the table's keys that a full read did not see, by an anti-join over spilled keys,
streamed in chunks of at most the commit size."""

from __future__ import annotations

import pyarrow as pa

from flowservice.lake import DeltaLake
from flowservice.services.runs.resync import KeySpill
from tests.integration.lake.tables import TABLE, accounts, commit


def test_missing_keys_come_in_chunks_and_only_once_per_key(lake: DeltaLake) -> None:
    rows = [(f"{i:04d}", f"n{i}", i) for i in range(230)]
    commit(lake, accounts(*rows), 1, mode="append")
    commit(lake, accounts(*rows[:50]), 2, mode="append")  # a second version of some keys
    with KeySpill() as spill:
        for start in range(0, 230, 7):
            spill.add(pa.array([r[0] for r in rows[start : start + 7] if int(r[0]) % 3]))
        chunks = list(lake.missing_keys(TABLE, "accountid", spill.files(), 20, spill.spill_dir()))
    assert all(len(c) <= 20 for c in chunks) and len(chunks) >= 4
    found = [k for c in chunks for k in c]
    assert sorted(found) == [r[0] for r in rows if int(r[0]) % 3 == 0]


def test_a_missing_table_has_no_missing_keys(lake: DeltaLake) -> None:
    with KeySpill() as spill:
        spill.add(pa.array(["a"]))
        assert list(lake.missing_keys(TABLE, "accountid", spill.files(), 10, spill.spill_dir())) == []
