"""The scale-out demo's database handling: the admin URL's database swapped for the demo's, and a name that
could not be a plain identifier refused before any SQL is sent."""

from __future__ import annotations

import pytest

from flowservice.demo import DemoError
from flowservice.demo_scale import database_url, fresh_database


def test_the_demo_database_url_keeps_the_admin_urls_server_and_user_and_swaps_the_database() -> None:
    url = database_url("postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable", "flowservice_demo_scale")

    assert url == "postgresql://postgres@127.0.0.1:5432/flowservice_demo_scale?sslmode=disable"


@pytest.mark.parametrize("name", ['demo"; DROP DATABASE postgres; --', "Demo", "", "1demo", "a" * 64])
def test_a_database_name_that_is_not_a_plain_identifier_is_refused_before_connecting(name: str) -> None:
    with pytest.raises(DemoError, match="lower-case letters, digits and underscores"):
        fresh_database("postgresql://nobody@127.0.0.1:1/postgres", name)
