"""What one commit window holds: mapped rows and deleted keys, kept in the source's order.

The lake applies a commit's deletes over its rows (a key both upserted and deleted in one commit ends up
deleted), which is right within one page but not across pages: a delete followed on a later page by a
re-creation of the same key would lose the re-created row. So each page is applied to the window as it
arrives: a later upsert cancels an earlier pending delete of its key, and a later delete drops the pending
rows of its key. Within one page the rows come before the deletes (the order of a Dataverse delta page).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


class PendingChanges:
    def __init__(self, key: str) -> None:
        self.key = key  # the key column of the mapped rows
        self.tables: list[pa.Table] = []
        self.deletes: dict[str, None] = {}  # an ordered set of text keys
        self.rows = 0

    def add_rows(self, rows: pa.Table) -> None:
        if not rows.num_rows:
            return
        if self.deletes:
            upserted = pc.unique(pc.cast(rows.column(self.key), pa.string())).to_pylist()
            for key in self.deletes.keys() & set(upserted):
                del self.deletes[key]
        self.tables.append(rows)
        self.rows += rows.num_rows

    def add_deletes(self, keys: list[str]) -> None:
        if not keys:
            return
        if self.tables:
            gone = pa.array(keys, pa.string())
            kept = []
            for table in self.tables:
                hit = pc.is_in(pc.cast(table.column(self.key), pa.string()), value_set=gone)
                kept.append(table.filter(pc.invert(hit)) if pc.any(hit).as_py() else table)
            self.tables = [t for t in kept if t.num_rows]
            self.rows = sum(t.num_rows for t in self.tables)
        self.deletes.update(dict.fromkeys(keys))

    def delete_list(self) -> list[str]:
        return list(self.deletes)

    def clear(self) -> None:
        self.tables = []
        self.deletes = {}
        self.rows = 0
