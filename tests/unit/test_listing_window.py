"""``listing.window`` (documents already in creation order) answers as ``listing.apply`` does."""

from typing import Any

import pytest

from flowservice.domain import listing

DOCS: list[dict[str, Any]] = [{"id": f"d{n}", "createdAt": 100 - n // 2, "n": n % 3} for n in range(25)]


def newest_first(doc: dict) -> tuple[int, str]:
    return (-doc["createdAt"], doc["id"])


@pytest.mark.parametrize(
    "params",
    [
        [],
        [("limit", "5")],
        [("limit", "5"), ("continuationToken", listing.encode_token(20))],
        [("limit", "5"), ("continuationToken", listing.encode_token(25))],
        [("property", "n==1"), ("limit", "3")],
        [("property", "n!=1"), ("orderby", "createdAt")],
        [("count", "true"), ("property", "n>0")],
    ],
)
def test_a_window_over_ordered_documents_is_the_page_apply_gives(params: list) -> None:
    query = listing.parse_list_query(params)
    descending = listing.creation_order(query)
    assert descending is not None
    ordered = sorted(DOCS, key=lambda d: (-d["createdAt"] if descending else d["createdAt"], d["id"]))
    expected = listing.apply(query, DOCS, default_order=newest_first)
    got = listing.window(query, iter(ordered))
    assert (got.items, got.next_offset) == (expected.items, expected.next_offset)
    if query.count_only:
        assert got.total == expected.total


def test_only_plain_paths_with_printable_ascii_values_are_left_to_a_store() -> None:
    assert listing.decidable(listing.parse_filter("params.tableName==lead"))
    assert not listing.decidable(listing.parse_filter("sourceConnectionIds[]==a"))
    assert not listing.decidable(listing.parse_filter("name==Ünïcode"))
    assert listing.numbers(listing.parse_filter("n==1,x,2.5")) == [1.0, 2.5]
    assert listing.numbers(listing.parse_filter("n<inf")) is None
    assert listing.creation_order(listing.parse_list_query([("orderby", "name")])) is None
