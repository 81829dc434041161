"""Key lookups keep working whichever writer (ours or delta-rs's MERGE, which writes string_view) made the
files: a regression found by the watermark end-to-end test."""

from pathlib import Path

import pyarrow as pa

from flowservice.lake import DeltaLake


def test_new_keys_after_a_merge_of_existing_keys_still_land(tmp_path: Path) -> None:
    lake = DeltaLake(str(tmp_path))

    def commit(keys: list[str], values: list[int], version: int, key_type: pa.DataType = pa.string()) -> None:
        lake.commit(
            "t",
            pa.table({"k": pa.array(keys, key_type), "v": values}),
            mode="merge",
            primary_key="k",
            deleted_keys=[],
            app_id="flow",
            txn_version=version,
            cursor={"n": version},
        )

    commit(["a", "b"], [1, 2], 1, pa.string_view())
    commit(["a", "c"], [7, 8], 2)  # existing key: a MERGE
    commit(["zz"], [9], 3)  # only new keys: the append path, which looks the keys up first
    commit(["a"], [10], 4)
    rows = {r["k"]: r["v"] for r in lake.read("t").to_pylist()}
    assert rows == {"a": 10, "b": 2, "c": 8, "zz": 9}
    assert lake.last_commit("t", "flow").cursor == {"n": 4}  # type: ignore[union-attr]
