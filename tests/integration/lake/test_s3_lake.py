"""The lake on a real S3 server (SeaweedFS, started by the suite): the same ``ports.Lake`` contract as on a
folder — commits, merge, deletes, the exactly-once fence, queries, drop — with every byte going over S3."""

from __future__ import annotations

import pytest

from flowservice.lake import DeltaLake
from tests.fixtures.s3_server import S3Server

from .tables import TABLE, accounts, by_key, commit


@pytest.fixture
def s3_lake(s3_server: S3Server, s3_prefix: str) -> DeltaLake:
    return DeltaLake(s3_server.root(s3_prefix), s3_server.storage_options())


def test_a_first_commit_creates_the_table_in_the_bucket(s3_lake: DeltaLake, s3_server: S3Server, s3_prefix: str):
    result = commit(s3_lake, accounts(("a", "Alpha", 1), ("b", "Beta", 2)), 1)

    assert (result.version, result.rows_written, result.noop) == (0, 2, False)
    keys = s3_server.keys(f"{s3_prefix}/{TABLE}/")
    assert f"{s3_prefix}/{TABLE}/_delta_log/00000000000000000000.json" in keys
    assert any(k.endswith(".parquet") for k in keys)
    assert s3_lake.location(TABLE) == f"{s3_server.root(s3_prefix)}/{TABLE}"


def test_merge_updates_inserts_and_deletes_by_key_on_s3(s3_lake: DeltaLake):
    commit(s3_lake, accounts(("a", "Alpha", 1), ("b", "Beta", 2), ("c", "Gamma", 3)), 1)

    result = commit(s3_lake, accounts(("a", "Alpha 2", 10), ("d", "Delta", 4)), 2, deleted=["b"])

    assert (result.rows_written, result.rows_deleted) == (2, 1)
    rows = by_key(s3_lake.read(TABLE))
    assert sorted(rows) == ["a", "c", "d"]
    assert rows["a"]["name"] == "Alpha 2" and rows["a"]["employees"] == 10


def test_append_keeps_every_version_and_marks_deletes_on_s3(s3_lake: DeltaLake):
    commit(s3_lake, accounts(("a", "Alpha", 1)), 1, mode="append", change_time=1)
    result = commit(s3_lake, accounts(("a", "Alpha 2", 2)), 2, mode="append", deleted=["a"], change_time=2)

    assert (result.rows_written, result.rows_deleted) == (1, 1)
    assert s3_lake.read(TABLE).num_rows == 3


def test_a_transaction_already_committed_is_a_noop_and_its_cursor_stays(s3_lake: DeltaLake):
    commit(s3_lake, accounts(("a", "Alpha", 1)), 1, cursor={"page": "one"})
    commit(s3_lake, accounts(("b", "Beta", 2)), 2, cursor={"page": "two"})

    again = commit(s3_lake, accounts(("z", "Retried", 9)), 2, cursor={"page": "retried"})
    older = commit(s3_lake, accounts(("y", "Older", 8)), 1)

    assert again.noop and older.noop
    assert sorted(by_key(s3_lake.read(TABLE))) == ["a", "b"]
    last = s3_lake.last_commit(TABLE, "flow-1")
    assert last is not None and (last.txn_version, last.cursor, last.table_version) == (2, {"page": "two"}, 1)


def test_a_query_reads_the_tables_on_s3_through_arrow_without_duckdb_extensions(s3_lake: DeltaLake):
    commit(s3_lake, accounts(("a", "Alpha", 1), ("b", "Beta", 2), ("c", "Gamma", 3)), 1)
    commit(s3_lake, accounts(("b", "Beta", 20)), 2, deleted=["c"])

    result = s3_lake.query("SELECT accountid, employees FROM accounts ORDER BY accountid", {"accounts": TABLE})

    assert result.to_pylist() == [{"accountid": "a", "employees": 1}, {"accountid": "b", "employees": 20}]
    stats = s3_lake.stats(TABLE)
    assert (stats["version"], stats["rows"]) == (1, 2) and stats["size_bytes"] > 0


def test_a_full_resync_finds_the_keys_it_did_not_see_on_s3(s3_lake: DeltaLake, tmp_path):
    import pyarrow as pa
    import pyarrow.ipc as ipc

    commit(s3_lake, accounts(("a", "Alpha", 1), ("b", "Beta", 2), ("c", "Gamma", 3)), 1)
    seen = tmp_path / "seen.arrow"
    with ipc.new_file(seen, pa.schema([("k", pa.string())])) as writer:
        writer.write_table(pa.table({"k": ["a", "c"]}))

    missing = [k for chunk in s3_lake.missing_keys(TABLE, "accountid", [str(seen)], 10, str(tmp_path)) for k in chunk]

    assert missing == ["b"]


def test_dropping_a_table_removes_every_object_and_a_second_drop_is_harmless(
    s3_lake: DeltaLake, s3_server: S3Server, s3_prefix: str
):
    commit(s3_lake, accounts(("a", "Alpha", 1)), 1)
    commit(s3_lake, accounts(("b", "Beta", 2)), 2)
    other = "org1/prod/datasets/ds-2"
    commit(s3_lake, accounts(("x", "Other", 1)), 1, table=other)

    s3_lake.drop(TABLE)
    s3_lake.drop(TABLE)

    assert s3_server.keys(f"{s3_prefix}/{TABLE}/") == []
    assert s3_lake.stats(TABLE) == {} and s3_lake.last_commit(TABLE, "flow-1") is None
    assert sorted(by_key(s3_lake.read(other))) == ["x"]  # a neighbour (same prefix, other table) is untouched


def test_optimize_compacts_a_table_on_s3_and_keeps_its_transactions(s3_lake: DeltaLake):
    for txn in range(1, 5):
        commit(s3_lake, accounts((f"k{txn}", "Row", txn)), txn)

    s3_lake.optimize(TABLE, retention_hours=0)

    assert sorted(by_key(s3_lake.read(TABLE))) == ["k1", "k2", "k3", "k4"]
    assert commit(s3_lake, accounts(("k9", "Late", 9)), 4).noop
