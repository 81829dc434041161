"""Reading datasets back: DuckDB SQL, stats from the log, drop, and paths that must not escape the root."""

from __future__ import annotations

import pyarrow as pa
import pytest

from flowservice.domain.errors import InvalidRequest, NotFound
from flowservice.lake import DeltaLake

from .tables import TABLE, accounts, commit

CONTACTS = "org1/prod/datasets/ds-2"


def _accounts_with_industry(lake: DeltaLake) -> None:
    data = pa.table(
        {
            "accountid": ["a", "b", "c", "d"],
            "name": ["Alpha", "Beta", "Gamma", "Delta"],
            "industrycode": pa.array([1, 2, 1, None], pa.int32()),
        }
    )
    commit(lake, data, 1)
    commit(lake, data.slice(0, 0), 2, deleted=["c"])


def test_query_runs_duckdb_sql_over_named_delta_tables(lake: DeltaLake):
    _accounts_with_industry(lake)

    result = lake.query(
        "SELECT industrycode, count(*) AS n FROM account GROUP BY 1 ORDER BY 1 NULLS LAST", {"account": TABLE}
    )

    assert result.to_pylist() == [
        {"industrycode": 1, "n": 1},
        {"industrycode": 2, "n": 1},
        {"industrycode": None, "n": 1},
    ]


def test_query_joins_several_datasets(lake: DeltaLake):
    _accounts_with_industry(lake)
    contacts = pa.table({"accountid": ["x1", "x2", "x3"], "parent": ["a", "a", "b"]})
    lake.commit(
        CONTACTS,
        contacts,
        mode="merge",
        primary_key="accountid",
        deleted_keys=[],
        app_id="flow-2",
        txn_version=1,
        cursor={},
    )

    result = lake.query(
        "SELECT a.name, count(*) AS contacts FROM account a JOIN contact c ON c.parent = a.accountid "
        "GROUP BY a.name ORDER BY a.name",
        {"account": TABLE, "contact": CONTACTS},
    )

    assert result.to_pylist() == [{"name": "Alpha", "contacts": 2}, {"name": "Beta", "contacts": 1}]


def test_query_sees_the_latest_version_including_new_columns(lake: DeltaLake):
    commit(lake, accounts(("a", "Alpha", 1)), 1)
    commit(lake, accounts(("b", "Beta", 2)).append_column("city", pa.array(["Oslo"])), 2)

    result = lake.query("SELECT accountid, city FROM t ORDER BY accountid", {"t": TABLE})

    assert result.to_pylist() == [{"accountid": "a", "city": None}, {"accountid": "b", "city": "Oslo"}]


def test_query_cannot_read_files_outside_the_named_datasets(lake: DeltaLake, tmp_path):
    _accounts_with_industry(lake)
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")

    with pytest.raises(InvalidRequest, match="disabled"):
        lake.query(f"SELECT * FROM read_csv('{secret}')", {"account": TABLE})


def test_query_errors_are_invalid_requests_and_unknown_datasets_not_found(lake: DeltaLake):
    _accounts_with_industry(lake)

    with pytest.raises(InvalidRequest, match="nosuchcolumn"):
        lake.query("SELECT nosuchcolumn FROM account", {"account": TABLE})
    with pytest.raises(NotFound):
        lake.query("SELECT 1 FROM missing", {"missing": "org1/prod/datasets/none"})


def test_stats_report_version_rows_size_and_columns_from_the_log(lake: DeltaLake):
    assert lake.stats(TABLE) == {}
    _accounts_with_industry(lake)

    stats = lake.stats(TABLE)

    assert (stats["version"], stats["rows"]) == (1, 3)
    assert stats["size_bytes"] > 0
    assert stats["columns"] == [
        {"name": "accountid", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "industrycode", "type": "integer"},
    ]


def test_read_of_a_missing_table_is_not_found(lake: DeltaLake):
    with pytest.raises(NotFound):
        lake.read(TABLE)


def test_drop_removes_the_table_and_its_history(lake: DeltaLake):
    _accounts_with_industry(lake)
    commit(lake, accounts(("z", "Zed", 1)), 1, table=CONTACTS)

    lake.drop(TABLE)
    lake.drop(TABLE)  # dropping twice is fine

    assert lake.stats(TABLE) == {}
    assert lake.last_commit(TABLE, "flow-1") is None
    assert lake.read(CONTACTS).num_rows == 1  # a sibling dataset is untouched
    assert not commit(lake, accounts(("a", "Alpha", 1)), 1).noop  # a new table starts a new history


@pytest.mark.parametrize("path", ["", "/", "../other-org/x", "org1/../../etc", "org1//x", "c:/x", "a\\b"])
def test_table_paths_that_could_escape_the_root_are_refused(lake: DeltaLake, path):
    with pytest.raises(InvalidRequest, match="table path"):
        lake.stats(path)
    with pytest.raises(InvalidRequest, match="table path"):
        lake.drop(path)


def test_query_filters_text_in_files_a_merge_rewrote_as_well_as_in_first_written_ones(lake: DeltaLake):
    first = pa.table({"accountid": ["a", "b", "c"], "tablename": ["account", "lead", "account"]})
    commit(lake, first, 1)
    commit(lake, pa.table({"accountid": ["a", "d"], "tablename": ["account", "account"]}), 2)  # rewrites a file

    result = lake.query("SELECT accountid FROM t WHERE tablename = 'account' ORDER BY accountid", {"t": TABLE})

    assert result.column("accountid").to_pylist() == ["a", "c", "d"]
    assert result.schema.field("accountid").type == pa.string()
