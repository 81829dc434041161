"""The listing grammar, on plain documents."""

from typing import Any

import pytest

from flowservice.domain import listing
from flowservice.domain.errors import InvalidRequest

DOCS: list[dict[str, Any]] = [
    {
        "id": "a",
        "name": "Lead flow",
        "state": "enabled",
        "createdAt": 3,
        "sourceConnectionIds": ["s1", "s2"],
        "params": {"columns": [{"name": "firstName"}]},
    },
    {
        "id": "b",
        "name": "account flow",
        "state": "disabled",
        "createdAt": 1,
        "sourceConnectionIds": ["s3"],
        "metrics": {"statusSummary": {"status": "success"}},
    },
    {"id": "c", "name": None, "state": "enabled", "createdAt": 2, "sourceConnectionIds": []},
]


def select(*expressions: str) -> list[str]:
    query = listing.parse_list_query([("property", e) for e in expressions])
    return sorted(d["id"] for d in listing.apply(query, DOCS, default_order=lambda d: d["id"]).items)


def test_equality_is_case_insensitive_and_strips_one_pair_of_quotes() -> None:
    assert select('state=="ENABLED"') == ["a", "c"]


def test_array_steps_walk_into_elements() -> None:
    assert select("sourceConnectionIds[]==s3,s2") == ["a", "b"]
    assert select("params.columns[].name==firstname") == ["a"]


def test_several_properties_are_anded_and_numbers_compare_numerically() -> None:
    assert select("state==enabled", "createdAt>2") == ["a"]
    assert select("createdAt>=2", "createdAt<3") == ["c"]


def test_missing_paths_match_nothing_and_null_matches_none() -> None:
    assert select("metrics.statusSummary.status==Success") == ["b"]
    assert select("name==null") == ["c"]


def test_not_equal_is_an_extension_that_excludes_matches() -> None:
    assert select("state!=enabled") == ["b"]


def test_continuation_tokens_round_trip_and_reject_garbage() -> None:
    assert listing.decode_token(listing.encode_token(200)) == 200
    with pytest.raises(InvalidRequest):
        listing.decode_token("%%%")


def test_ordering_puts_missing_values_last() -> None:
    query = listing.parse_list_query([("orderby", "-name")])
    names = [d["name"] for d in listing.apply(query, DOCS, default_order=lambda d: d["id"]).items]
    assert names == ["Lead flow", "account flow", None]
