"""The seen keys of a full resync go to disk page by page; memory holds at most one page of them."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from flowservice.services.runs.resync import KeySpill


def test_keys_are_written_as_text_and_none_stay_in_memory() -> None:
    with KeySpill() as spill:
        spill.add(pa.array(["a", "b", "c"]))
        spill.add(pa.chunked_array([pa.array([1, 2]), pa.array([3])]))
        assert spill.largest_batch == 3 and spill.count == 6
        assert not [name for name, value in vars(spill).items() if isinstance(value, (set, list, pa.Array))]
        (path,) = spill.files()
        keys = pa.ipc.open_file(path).read_all().column("k").to_pylist()
        assert keys == ["a", "b", "c", "1", "2", "3"]
        folder = spill.folder
    assert not Path(folder).exists()
