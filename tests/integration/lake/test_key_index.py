"""A first load of random GUIDs (every file's key range spanning nearly all keys) checks its batches against
the index of the table's keys instead of reading every earlier file (``lake/key_index.py``), and stays exact:
a key that is in the table, whoever wrote it, still goes through MERGE."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pytest

from flowservice.lake import DeltaLake, key_check

from .tables import TABLE, accounts, by_key, commit


def random_batch(count: int) -> pa.Table:
    return accounts(*((str(uuid.uuid4()), "new", 1) for _ in range(count)))


@pytest.fixture
def file_scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the key checks that read files (``_scan_holds_any``)."""
    scans: list[int] = []
    real = key_check._scan_holds_any

    def counted(*args: object, **kwargs: object) -> bool:
        scans.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(key_check, "_scan_holds_any", counted)
    return scans


def test_batches_of_new_random_keys_are_appended_without_reading_the_earlier_files(
    lake: DeltaLake, file_scans: list[int]
) -> None:
    for txn in range(1, 13):
        assert commit(lake, random_batch(200), txn).rows_written == 200
    assert file_scans == [], "every check was answered by the index"
    assert lake.read(TABLE).num_rows == 2400


def test_a_key_already_in_the_table_is_merged_not_landed_twice(lake: DeltaLake, file_scans: list[int]) -> None:
    first = random_batch(100)
    commit(lake, first, 1)
    commit(lake, random_batch(100), 2)
    known = first.column("accountid")[7].as_py()
    commit(lake, accounts((known, "renamed", 2), (str(uuid.uuid4()), "new", 1)), 3)
    landed = by_key(lake.read(TABLE))
    assert len(landed) == 201 and landed[known]["name"] == "renamed"
    assert file_scans, "the index said maybe, the files said yes"


def test_a_key_another_writer_landed_is_found_though_this_lakes_index_predates_it(tmp_path, file_scans) -> None:
    ours, theirs = DeltaLake(str(tmp_path / "lake")), DeltaLake(str(tmp_path / "lake"))
    commit(ours, random_batch(50), 1)
    commit(ours, random_batch(50), 2)  # our index now covers version 1
    foreign = str(uuid.uuid4())
    commit(theirs, accounts((foreign, "theirs", 1)), 3)  # a takeover's commit, through another lake
    commit(ours, accounts((foreign, "ours again", 2)), 4)
    landed = by_key(ours.read(TABLE))
    assert len(landed) == 101 and landed[foreign]["name"] == "ours again"


def test_a_deleted_key_written_again_lands_once(lake: DeltaLake) -> None:
    first = random_batch(20)
    commit(lake, first, 1)
    gone = first.column("accountid")[3].as_py()
    commit(lake, random_batch(0), 2, deleted=[gone])
    commit(lake, accounts((gone, "back", 5)), 3)
    landed = by_key(lake.read(TABLE))
    assert len(landed) == 20 and landed[gone]["name"] == "back"


def test_a_table_beyond_the_index_limit_is_checked_by_reading_its_files(lake: DeltaLake, file_scans) -> None:
    lake._key_indexes.max_keys = 150
    for txn in range(1, 5):
        commit(lake, random_batch(100), txn)
    assert len(file_scans) == 2, "commits 3 and 4, on a table of 200 and 300 keys"
    assert lake.read(TABLE).num_rows == 400
