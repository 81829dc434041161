"""Merge and append commits on real Delta tables: what lands, exactly once, with deletes."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from flowservice.domain.errors import InvalidRequest
from flowservice.lake import DeltaLake

from .tables import TABLE, accounts, by_key, commit


def test_first_commit_creates_the_table_with_its_rows(lake: DeltaLake):
    result = commit(lake, accounts(("a", "Alpha", 10), ("b", "Beta", 20)), 1)

    assert (result.version, result.rows_written, result.rows_deleted, result.noop) == (0, 2, 0, False)
    assert result.bytes_written > 0
    assert by_key(lake.read(TABLE))["b"] == {"accountid": "b", "name": "Beta", "employees": 20}


def test_recommitting_the_same_transaction_changes_nothing(lake: DeltaLake):
    commit(lake, accounts(("a", "Alpha", 10), ("b", "Beta", 20)), 1, mode="append")

    again = commit(lake, accounts(("a", "Alpha", 10), ("b", "Beta", 20)), 1, mode="append")
    older = commit(lake, accounts(("c", "Gamma", 30)), 0, mode="append")

    assert again.noop and older.noop
    assert (again.version, again.rows_written, again.bytes_written) == (0, 0, 0)
    assert lake.read(TABLE).num_rows == 2
    assert lake.stats(TABLE)["version"] == 0


def test_merge_applies_upserts_and_deletes_in_one_commit(lake: DeltaLake):
    commit(lake, accounts(("a", "Alpha", 10), ("b", "Beta", 20), ("c", "Gamma", 30)), 1)

    result = commit(lake, accounts(("b", "Beta 2", 21), ("d", "Delta", 40)), 2, deleted=["a"])

    assert (result.version, result.rows_written, result.rows_deleted) == (1, 2, 1)
    assert lake.stats(TABLE)["version"] == 1  # one commit, not one per operation
    rows = by_key(lake.read(TABLE))
    assert sorted(rows) == ["b", "c", "d"]
    assert rows["b"]["name"] == "Beta 2" and rows["c"]["name"] == "Gamma"


def test_bytes_written_are_the_sizes_of_the_files_the_commit_added(lake: DeltaLake):
    result = commit(lake, accounts(*[(f"k{i}", f"name {i}", i) for i in range(1000)]), 1)

    files = pa.table(DeltaTable(lake.location(TABLE)).get_add_actions())
    assert result.bytes_written == sum(files.column("size_bytes").to_pylist())


def test_a_record_updated_and_deleted_in_the_same_batch_ends_deleted(lake: DeltaLake):
    commit(lake, accounts(("a", "Alpha", 10), ("b", "Beta", 20)), 1)

    commit(lake, accounts(("a", "Alpha 2", 11), ("c", "Gamma", 30)), 2, deleted=["a", "c"])

    assert sorted(by_key(lake.read(TABLE))) == ["b"]


def test_deletes_in_the_first_commit_are_not_written_as_rows(lake: DeltaLake):
    result = commit(lake, accounts(("a", "Alpha", 10), ("b", "Beta", 20)), 1, deleted=["b", "zz"])

    assert result.rows_written == 1
    assert sorted(by_key(lake.read(TABLE))) == ["a"]


def test_duplicate_keys_in_a_batch_keep_the_last_occurrence(lake: DeltaLake):
    commit(lake, accounts(("a", "first", 1), ("b", "Beta", 2), ("a", "second", 3)), 1)
    assert by_key(lake.read(TABLE))["a"]["name"] == "second"

    commit(lake, accounts(("b", "old", 5), ("a", "third", 4), ("b", "new", 6)), 2)

    rows = by_key(lake.read(TABLE))
    assert lake.read(TABLE).num_rows == 2
    assert (rows["a"]["name"], rows["b"]["name"]) == ("third", "new")


@pytest.mark.parametrize("mode", ["merge", "append"])
def test_an_empty_batch_still_advances_the_transaction_and_cursor(lake: DeltaLake, mode):
    commit(lake, accounts(("a", "Alpha", 10)), 1, mode=mode)

    result = commit(lake, accounts(), 2, mode=mode, cursor={"deltaLink": "token-2"})

    assert not result.noop and result.version == 1
    assert (result.rows_written, result.rows_deleted, result.bytes_written) == (0, 0, 0)
    last = lake.last_commit(TABLE, "flow-1")
    assert last is not None and (last.txn_version, last.cursor) == (2, {"deltaLink": "token-2"})
    assert lake.read(TABLE).num_rows == 1


def test_an_empty_first_batch_creates_the_table_and_stores_the_cursor(lake: DeltaLake):
    result = commit(lake, pa.table({}), 1, cursor={"deltaLink": "start"})

    assert (result.version, result.rows_written) == (0, 0)
    assert lake.read(TABLE).column_names == ["accountid"]
    last = lake.last_commit(TABLE, "flow-1")
    assert last is not None and last.cursor == {"deltaLink": "start"}


def test_deleting_keys_that_are_absent_still_commits_the_transaction(lake: DeltaLake):
    commit(lake, accounts(("a", "Alpha", 10)), 1)

    result = commit(lake, accounts(), 2, deleted=["nobody"])

    assert (result.noop, result.version, result.rows_deleted) == (False, 1, 0)
    last = lake.last_commit(TABLE, "flow-1")
    assert last is not None and last.txn_version == 2
    assert commit(lake, accounts(), 2, deleted=["nobody"]).noop


def test_append_keeps_every_version_with_change_type_and_time(lake: DeltaLake):
    t1 = int(dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.UTC).timestamp() * 1000)
    t2 = t1 + 60_000
    commit(lake, accounts(("a", "Alpha", 10), ("b", "Beta", 20)), 1, mode="append", change_time=t1)

    result = commit(lake, accounts(("a", "Alpha 2", 11)), 2, mode="append", deleted=["b"], change_time=t2)

    assert (result.rows_written, result.rows_deleted) == (1, 1)
    rows = lake.read(TABLE).sort_by([("_change_time", "ascending"), ("accountid", "ascending")]).to_pylist()
    seen = [(r["accountid"], r["name"], r["_change_type"], r["_change_time"]) for r in rows]
    when1 = dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.UTC)
    when2 = dt.datetime(2024, 5, 1, 8, 31, tzinfo=dt.UTC)
    assert seen == [
        ("a", "Alpha", "upsert", when1),
        ("b", "Beta", "upsert", when1),
        ("a", "Alpha 2", "upsert", when2),
        ("b", None, "delete", when2),
    ]
    schema = lake.read(TABLE).schema
    assert schema.field("_change_time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("_change_type").type == pa.string()


def test_append_without_a_change_time_stamps_the_commit_time(lake: DeltaLake):
    before = dt.datetime.now(dt.UTC)
    commit(lake, accounts(("a", "Alpha", 10)), 1, mode="append")
    after = dt.datetime.now(dt.UTC)

    (stamp,) = lake.read(TABLE).column("_change_time").to_pylist()
    assert before - dt.timedelta(milliseconds=1) <= stamp <= after


def test_append_deletes_of_integer_keys_are_typed_like_the_key(lake: DeltaLake):
    data = pa.table({"accountid": pa.array([1, 2], pa.int64()), "name": ["one", "two"]})
    commit(lake, data, 1, mode="append")

    commit(lake, data.slice(0, 0), 2, mode="append", deleted=["2"])

    deletes = [r for r in lake.read(TABLE).to_pylist() if r["_change_type"] == "delete"]
    assert deletes == [
        {"accountid": 2, "name": None, "_change_type": "delete", "_change_time": deletes[0]["_change_time"]}
    ]


def test_merge_deletes_integer_keys_given_as_text(lake: DeltaLake):
    commit(lake, pa.table({"accountid": pa.array([1, 2, 3], pa.int32()), "name": ["a", "b", "c"]}), 1)

    commit(lake, pa.table({"accountid": pa.array([], pa.int32())}), 2, deleted=["2", "3"])

    assert lake.read(TABLE).column("accountid").to_pylist() == [1]


def test_deleted_keys_that_do_not_fit_the_key_type_are_refused(lake: DeltaLake):
    commit(lake, pa.table({"accountid": pa.array([1], pa.int64())}), 1)

    with pytest.raises(InvalidRequest, match="primary key type"):
        commit(lake, pa.table({"accountid": pa.array([], pa.int64())}), 2, deleted=["not-a-number"])
    assert lake.stats(TABLE)["version"] == 0


def test_rows_without_a_primary_key_are_refused(lake: DeltaLake):
    with pytest.raises(InvalidRequest, match="without a primary key"):
        commit(lake, accounts(("a", "Alpha", 1), (None, "Nobody", 2)), 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="no primary key column"):
        commit(lake, pa.table({"name": ["x"]}), 1)
    assert lake.stats(TABLE) == {}


def test_column_names_that_need_quoting_merge_correctly(lake: DeltaLake):
    data = pa.table({"accountid": ["a", "b"], "Display Name": ["A", "B"], 'odd"col': [1, 2]})
    commit(lake, data, 1)

    commit(lake, pa.table({"accountid": ["b"], "Display Name": ["B2"], 'odd"col': [3]}), 2)

    assert by_key(lake.read(TABLE))["b"] == {"accountid": "b", "Display Name": "B2", 'odd"col': 3}


def test_a_cursor_that_is_not_json_is_refused_before_writing(lake: DeltaLake):
    with pytest.raises(InvalidRequest, match="JSON"):
        commit(lake, accounts(("a", "Alpha", 1)), 1, cursor={"at": dt.datetime.now(dt.UTC)})
    assert lake.stats(TABLE) == {}


def test_an_unknown_mode_is_refused(lake: DeltaLake):
    with pytest.raises(InvalidRequest, match="mode"):
        commit(lake, accounts(("a", "Alpha", 1)), 1, mode="upsert")  # type: ignore[arg-type]


def test_a_batch_of_only_new_records_leaves_existing_files_untouched(lake: DeltaLake):
    commit(lake, accounts(*[(f"k{i}", "x", i) for i in range(100)]), 1)
    uri = lake.location(TABLE)
    before = set(pa.table(DeltaTable(uri).get_add_actions()).column("path").to_pylist())

    result = commit(lake, accounts(("new1", "n", 1), ("new2", "n", 2)), 2, deleted=["absent"])

    after = set(pa.table(DeltaTable(uri).get_add_actions()).column("path").to_pylist())
    assert before < after and len(after - before) == 1  # appended one file, rewrote none
    assert (result.rows_written, result.rows_deleted) == (2, 0)
    assert lake.read(TABLE).num_rows == 102


def test_a_batch_touching_one_existing_record_is_merged_not_duplicated(lake: DeltaLake):
    commit(lake, accounts(*[(f"k{i}", "x", i) for i in range(100)]), 1)

    result = commit(lake, accounts(("new", "n", 1), ("k42", "changed", 42)), 2)

    assert (result.rows_written, result.rows_deleted) == (2, 0)
    rows = by_key(lake.read(TABLE))
    assert len(rows) == 101 and lake.read(TABLE).num_rows == 101
    assert rows["k42"]["name"] == "changed"
