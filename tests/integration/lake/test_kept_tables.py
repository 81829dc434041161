"""A lake keeps the table it committed to open for its next commit (``lake/open_tables.py``): the commits of a run
refresh one snapshot instead of opening the table each time, and land exactly as they did with fresh opens."""

from __future__ import annotations

import pytest
from deltalake import DeltaTable

from flowservice.lake import DeltaLake
from flowservice.lake.open_tables import OpenTables
from tests.fixtures.s3_server import S3Server

from .tables import TABLE, accounts, by_key, commit


def _count_opens(monkeypatch, lake: DeltaLake) -> list[str]:
    """The URIs ``lake`` opens afresh from now on."""
    opened: list[str] = []
    real_open = DeltaLake._open

    def counting(self: DeltaLake, uri: str) -> DeltaTable | None:
        if self is lake:
            opened.append(uri)
        return real_open(self, uri)

    monkeypatch.setattr(DeltaLake, "_open", counting)
    return opened


@pytest.mark.parametrize("mode", ["merge", "append"])
def test_the_commits_of_one_writer_open_the_table_once(lake: DeltaLake, monkeypatch, mode):
    commit(lake, accounts(("k1", "x", 1)), 1, mode=mode)  # creates the table, then opens it for its version
    opened = _count_opens(monkeypatch, lake)

    for txn in range(2, 31):  # past a checkpoint (every 20 commits)
        commit(lake, accounts((f"k{txn}", "x", txn), ("k1", "again", txn)), txn, mode=mode)

    assert opened == [lake.location(TABLE)]  # kept for 20 commits after it was opened, then opened afresh
    last = lake.last_commit(TABLE, "flow-1")
    assert last is not None and (last.txn_version, last.table_version) == (30, 29)
    expected = 30 if mode == "merge" else 59
    assert lake.read(TABLE).num_rows == expected


def test_a_kept_table_sees_the_commits_of_other_writers(lake: DeltaLake, tmp_path):
    commit(lake, accounts(("a", "Alpha", 1)), 1)
    other = DeltaLake(str(tmp_path / "lake"))
    commit(other, accounts(("a", "Alpha by the other flow", 7), ("b", "Beta", 2)), 1, app_id="flow-2")

    result = commit(lake, accounts(("a", "Alpha 2", 3)), 2)

    assert (result.version, result.rows_written) == (2, 1)
    assert {k: r["name"] for k, r in by_key(lake.read(TABLE)).items()} == {"a": "Alpha 2", "b": "Beta"}


@pytest.mark.parametrize("recreated_commits", [2, 5])  # the kept version again, and past it
@pytest.mark.parametrize("mode", ["merge", "append"])
def test_a_table_deleted_and_created_again_between_two_commits_is_opened_afresh(
    lake: DeltaLake, tmp_path, mode, recreated_commits
):
    commit(lake, accounts(("a", "Alpha", 1), ("b", "Beta", 2)), 1, mode=mode)
    commit(lake, accounts(("c", "Gamma", 3)), 2, mode=mode)  # kept at version 1
    other = DeltaLake(str(tmp_path / "lake"))
    other.drop(TABLE)
    for txn in range(1, recreated_commits + 1):  # another flow's new table, with the same log versions and more
        commit(other, accounts((f"n{txn}", "New", txn), ("a", "Alpha anew", 0)), txn, app_id="flow-2", mode=mode)

    result = commit(lake, accounts(("a", "Alpha 3", 4), ("d", "Delta", 5)), 3, mode=mode)

    assert not result.noop and result.version == recreated_commits
    rows = lake.read(TABLE)
    new_keys = {f"n{txn}" for txn in range(1, recreated_commits + 1)}
    if mode == "merge":
        assert {k: r["name"] for k, r in by_key(rows).items()} == {
            **dict.fromkeys(new_keys, "New"),
            "a": "Alpha 3",
            "d": "Delta",
        }
    else:
        assert sorted(rows.column("accountid").to_pylist()) == sorted([*new_keys, *["a"] * recreated_commits, "a", "d"])
    assert DeltaTable(lake.location(TABLE)).transaction_version("flow-1") == 3


def test_a_table_dropped_under_a_writer_that_keeps_it_is_refused_and_creates_nothing(lake: DeltaLake, tmp_path):
    from flowservice.domain.errors import NotFound

    commit(lake, accounts(("a", "Alpha", 1)), 1)
    commit(lake, accounts(("b", "Beta", 2)), 2)
    DeltaLake(str(tmp_path / "lake")).drop(TABLE)  # by another process: this lake still keeps the table

    with pytest.raises(NotFound):
        commit(lake, accounts(("c", "Gamma", 3)), 3)
    assert lake.stats(TABLE) == {}


def test_a_takeover_that_committed_first_makes_the_kept_writers_commit_a_noop(lake: DeltaLake, tmp_path):
    commit(lake, accounts(("a", "Alpha", 1)), 1)
    commit(lake, accounts(("b", "Beta", 2)), 2)  # the table is kept at transaction 2
    successor = DeltaLake(str(tmp_path / "lake"))
    commit(successor, accounts(("c", "Gamma by the successor", 3)), 3)

    late = commit(lake, accounts(("c", "Gamma by the stale worker", 3)), 3)

    assert late.noop and late.version == 2
    assert by_key(lake.read(TABLE))["c"]["name"] == "Gamma by the successor"
    assert lake.stats(TABLE)["version"] == 2


@pytest.mark.parametrize("mode", ["merge", "append"])
def test_a_takeover_committing_between_the_refresh_and_the_write_still_fails_the_kept_writer(
    lake: DeltaLake, monkeypatch, tmp_path, mode
):
    """Delta's conflict check, on the refreshed snapshot: the stale worker's transaction 3 is refused, it
    re-reads (a fresh open) and finds the successor's transaction 3 there."""
    commit(lake, accounts(("a", "Alpha", 1)), 1, mode=mode)
    commit(lake, accounts(("b", "Beta", 2)), 2, mode=mode)
    successor = DeltaLake(str(tmp_path / "lake"))
    real = DeltaLake._open_to_commit
    refreshed: list[int] = []

    def refresh_then_lose_the_race(self: DeltaLake, uri: str) -> tuple[DeltaTable | None, int]:
        table, opened_at = real(self, uri)
        if self is lake and not refreshed:
            refreshed.append(table.version() if table is not None else -1)
            commit(successor, accounts(("c", "Gamma by the successor", 3)), 3, mode=mode)
        return table, opened_at

    monkeypatch.setattr(DeltaLake, "_open_to_commit", refresh_then_lose_the_race)
    late = commit(lake, accounts(("c", "Gamma by the stale worker", 3)), 3, mode=mode)

    assert refreshed == [1]  # the kept table, refreshed before the successor's commit
    assert late.noop and late.version == 2
    names = [r["name"] for r in lake.read(TABLE).to_pylist() if r["accountid"] == "c"]
    assert names == ["Gamma by the successor"]
    assert lake.stats(TABLE)["version"] == 2  # three commits: the stale worker's landed nowhere


def test_on_s3_a_writer_refreshes_its_kept_table_and_opens_a_re_created_one_afresh(
    s3_server: S3Server, s3_prefix: str, monkeypatch
):
    root, options = s3_server.root(s3_prefix), s3_server.storage_options()
    lake = DeltaLake(root, options)
    commit(lake, accounts(("a", "Alpha", 1)), 1)
    opened = _count_opens(monkeypatch, lake)
    commit(lake, accounts(("b", "Beta", 2)), 2)
    assert opened == []
    other = DeltaLake(root, options)
    other.drop(TABLE)
    for txn in range(1, 3):
        commit(other, accounts((f"n{txn}", "New", txn), ("a", "Alpha anew", 0)), txn, app_id="flow-2")

    result = commit(lake, accounts(("a", "Alpha 3", 3)), 3)

    assert len(opened) == 1 and result.version == 2
    assert {k: r["name"] for k, r in by_key(lake.read(TABLE)).items()} == {"n1": "New", "n2": "New", "a": "Alpha 3"}


def test_tables_are_kept_a_few_at_a_time_and_not_for_long():
    now = [0.0]
    tables = OpenTables(limit=2, idle_seconds=60, clock=lambda: now[0])
    table = object()
    for uri in ("a", "b", "c"):
        tables.keep(uri, table, 0, b"entry", 0)  # type: ignore[arg-type]

    assert tables.take("a") is None  # the oldest made room
    kept = tables.take("b")
    assert kept is not None and kept.table is table and tables.take("b") is None  # taken out: no sharing
    now[0] = 61
    assert tables.take("c") is None  # idle past a minute


def test_a_table_refreshed_for_twenty_commits_since_it_was_opened_is_not_kept_again():
    tables = OpenTables()
    table = object()
    tables.keep("a", table, 19, b"entry", 0)  # type: ignore[arg-type]
    tables.keep("b", table, 20, b"entry", 0)  # type: ignore[arg-type]

    assert tables.take("a") is not None and tables.take("b") is None
