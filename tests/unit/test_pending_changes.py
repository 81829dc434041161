"""A commit window applies pages in the source's order: a re-created key survives its earlier delete, and a
delete removes the pending rows of its key."""

from __future__ import annotations

import pyarrow as pa

from flowservice.services.runs.pending import PendingChanges


def rows(*keys: str, version: str = "v1") -> pa.Table:
    return pa.table({"id": list(keys), "name": [f"{k} {version}" for k in keys]})


def landed(pending: PendingChanges) -> dict[str, str]:
    table = pa.concat_tables(pending.tables) if pending.tables else rows()
    return dict(zip(table.column("id").to_pylist(), table.column("name").to_pylist(), strict=True))


def test_a_key_re_created_after_its_delete_is_upserted_and_not_deleted() -> None:
    pending = PendingChanges("id")
    pending.add_deletes(["a", "b"])
    pending.add_rows(rows("a", version="re-created"))
    assert pending.delete_list() == ["b"]
    assert landed(pending) == {"a": "a re-created"}


def test_a_key_deleted_after_its_upsert_is_deleted_and_its_rows_dropped() -> None:
    pending = PendingChanges("id")
    pending.add_rows(rows("a", "b", "c"))
    pending.add_rows(rows("b", version="v2"))
    pending.add_deletes(["b"])
    assert pending.delete_list() == ["b"]
    assert landed(pending) == {"a": "a v1", "c": "c v1"} and pending.rows == 2


def test_delete_re_create_delete_ends_deleted_and_clear_empties_the_window() -> None:
    pending = PendingChanges("id")
    pending.add_deletes(["a"])
    pending.add_rows(rows("a"))
    pending.add_deletes(["a"])
    assert pending.delete_list() == ["a"] and pending.tables == [] and pending.rows == 0
    pending.clear()
    assert pending.delete_list() == [] and pending.rows == 0


def test_keys_of_another_type_compare_as_text() -> None:
    pending = PendingChanges("id")
    pending.add_rows(pa.table({"id": pa.array([1, 2], pa.int64())}))
    pending.add_deletes(["2"])
    assert pending.tables[0].column("id").to_pylist() == [1]
