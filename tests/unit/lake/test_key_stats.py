"""Which table properties give the key statistics, and whether a table's properties already do."""

from __future__ import annotations

import pyarrow as pa

from flowservice.lake.key_stats import NUM_INDEXED_COLUMNS, STATS_COLUMNS, configuration, has_stats


def schema(before_key: int, *, nested: int = 0) -> pa.Schema:
    fields = [pa.field(f"c{i}", pa.int64()) for i in range(before_key)]
    if nested:
        fields.insert(0, pa.field("s", pa.struct([pa.field(f"f{i}", pa.int64()) for i in range(nested)])))
    return pa.schema([*fields, pa.field("id", pa.string()), pa.field("after", pa.int64())])


def test_a_key_among_the_first_32_leaves_needs_no_property():
    assert configuration(schema(31), "id") == {}
    assert has_stats({}, schema(31), "id")


def test_a_key_past_32_leaves_is_listed_after_the_columns_that_had_statistics():
    wanted = configuration(schema(40), "id")

    assert wanted == {STATS_COLUMNS: ",".join(f"`c{i}`" for i in range(32)) + ",`id`"}
    assert not has_stats({}, schema(40), "id")
    assert has_stats(wanted, schema(40), "id")


def test_the_leaves_of_a_struct_count_and_a_struct_past_the_32nd_leaf_is_left_out():
    assert not has_stats({}, schema(2, nested=31), "id")
    assert configuration(schema(2, nested=31), "id") == {STATS_COLUMNS: "`s`,`c0`,`id`"}
    assert configuration(schema(0, nested=40), "id") == {STATS_COLUMNS: "`id`"}


def test_names_are_quoted_as_delta_rs_reads_them():
    odd = pa.schema([pa.field("a`b, c", pa.int64()), *(pa.field(f"c{i}", pa.int64()) for i in range(40))])
    odd = odd.append(pa.field("my key", pa.string()))

    listed = configuration(odd, "my key")[STATS_COLUMNS]

    assert listed.startswith("`a``b, c`,`c0`,") and listed.endswith(",`my key`")
    assert has_stats({STATS_COLUMNS: listed}, odd, "my key")
    assert not has_stats({STATS_COLUMNS: "`a``b, c`,`c0`"}, odd, "my key")


def test_an_operators_own_settings_are_read():
    assert has_stats({NUM_INDEXED_COLUMNS: "-1"}, schema(40), "id")
    assert has_stats({NUM_INDEXED_COLUMNS: "41"}, schema(40), "id")
    assert not has_stats({NUM_INDEXED_COLUMNS: "10"}, schema(20), "id")
    assert has_stats({STATS_COLUMNS: "c1,id"}, schema(40), "id")
