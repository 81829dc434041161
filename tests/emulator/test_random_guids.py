"""Random GUIDs (``--random-guids``): SQL Server's uniqueidentifier order, not string order, everywhere a key is
ordered or compared — paging, ``$orderby`` on the key and ``$filter`` ranges on it."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest

from crm_emulator.app import create_app
from crm_emulator.config import EmulatorConfig
from crm_emulator.ids import sql_key


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(EmulatorConfig(scale=400, seed=11, random_guids=True))


def get_all(app: Any, path: str, page_size: int = 37, method: str = "GET", json: Any = None) -> list[dict[str, Any]]:
    """Every row of a query, following nextLinks."""

    async def run() -> list[dict[str, Any]]:
        token, _ = app.emulator.identity.issue("app")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=app.emulator.config.api_url,
            headers={"Authorization": f"Bearer {token}", "Prefer": f"odata.maxpagesize={page_size}"},
        ) as api:
            rows: list[dict[str, Any]] = []
            url: str | None = path
            while url is not None:
                response = await api.get(url)
                assert response.status_code == 200, response.text
                body = response.json()
                rows += body["value"]
                url = body.get("@odata.nextLink")
            return rows

    return asyncio.run(run())


def ids_of(rows: list[dict[str, Any]]) -> list[str]:
    return [r["accountid"] for r in rows]


def test_random_guids_page_in_sql_server_order_which_is_not_string_order(app):
    ids = ids_of(get_all(app, "accounts?$select=name"))
    assert len(ids) == 400 == len(set(ids))
    assert ids == sorted(ids, key=sql_key)
    assert ids != sorted(ids), "the string order differs"
    assert len({i[:1] for i in ids}) == 16, "first digits look random"
    assert len({i[24:25] for i in ids}) == 16, "the SQL-significant bytes spread over the whole space"


def test_orderby_on_the_key_follows_sql_server_order_both_ways(app):
    default = ids_of(get_all(app, "accounts?$select=name"))
    assert ids_of(get_all(app, "accounts?$select=name&$orderby=accountid")) == default
    assert ids_of(get_all(app, "accounts?$select=name&$orderby=accountid desc", page_size=500)) == default[::-1]


def test_key_ranges_follow_sql_server_order_and_partition_the_table(app):
    default = ids_of(get_all(app, "accounts?$select=name"))
    low, high = default[100], default[300]
    ranged = ids_of(get_all(app, f"accounts?$select=name&$filter=accountid gt {low} and accountid le {high}"))
    assert ranged == default[101:301]
    by_string = [i for i in default if low < i <= high]
    assert set(ranged) != set(by_string), "a string range would select other rows"
    bounds = [default[0], default[97], default[211], default[350]]
    parts = [f"accountid lt {bounds[1]}"]
    parts += [f"accountid ge {a} and accountid lt {b}" for a, b in itertools.pairwise(bounds[1:])]
    parts.append(f"accountid ge {bounds[-1]}")
    pieces = [ids_of(get_all(app, f"accounts?$select=name&$filter={p}", page_size=23)) for p in parts]
    assert [len(p) for p in pieces] == [97, 114, 139, 50]
    assert [i for piece in pieces for i in piece] == default


def test_a_range_combines_with_other_conditions_and_literal_first_comparisons(app):
    rows = get_all(app, "accounts?$select=name,telephone1")
    default = ids_of(rows)
    low, high = default[50], default[250]
    expected = [r["accountid"] for r in rows[50:250] if r["telephone1"] is not None]
    filtered = get_all(
        app, f"accounts?$select=name&$filter={low} le accountid and telephone1 ne null and accountid lt {high}"
    )
    assert ids_of(filtered) == expected and 0 < len(expected) < 200
    assert ids_of(get_all(app, f"accounts?$select=name&$filter=accountid eq {default[7]}")) == [default[7]]
    assert ids_of(get_all(app, f"accounts?$select=name&$filter=accountid gt {high} and accountid lt {low}")) == []


def test_created_rows_get_random_ids_that_land_in_their_key_range():
    app = create_app(EmulatorConfig(scale=200, seed=3, random_guids=True))

    async def create() -> list[str]:
        token, _ = app.emulator.identity.issue("app")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=app.emulator.config.api_url,
            headers={"Authorization": f"Bearer {token}"},
        ) as api:
            out = []
            for n in range(20):
                response = await api.post("accounts", json={"name": f"Created {n}"})
                assert response.status_code == 204
                out.append(response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")"))
            return out

    created = asyncio.run(create())
    everything = ids_of(get_all(app, "accounts?$select=name"))
    assert everything == sorted(everything, key=sql_key) and len(everything) == 220
    positions = sorted(everything.index(c) for c in created)
    assert positions[-1] - positions[0] > 100, "random ids fall anywhere, not after the generated rows"
    low, high = everything[40], everything[160]
    ranged = ids_of(get_all(app, f"accounts?$select=name&$filter=accountid ge {low} and accountid lt {high}"))
    assert ranged == everything[40:160]


def test_the_command_line_flag_serves_random_guids_over_https(start_emulator):
    emulator = start_emulator(random_guids=True, scale=300)
    with emulator.client(headers={"Prefer": "odata.maxpagesize=5000"}) as api:
        ids = [r["accountid"] for r in api.get("accounts?$select=name").json()["value"]]
    assert len(ids) == 300 and ids == sorted(ids, key=sql_key) and ids != sorted(ids)


def test_counts_of_a_key_range_count_the_range(app):
    default = ids_of(get_all(app, "accounts?$select=name"))
    low, high = default[100], default[300]
    query = f"$filter=accountid gt {low} and accountid le {high}"

    async def run() -> tuple[int, str]:
        token, _ = app.emulator.identity.issue("app")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=app.emulator.config.api_url,
            headers={"Authorization": f"Bearer {token}"},
        ) as api:
            inline = (await api.get(f"accounts?$select=name&$count=true&{query}")).json()["@odata.count"]
            return inline, (await api.get(f"accounts/$count?{query}")).text

    assert asyncio.run(run()) == (200, "200")


def test_a_key_range_reads_only_its_range(app, monkeypatch):
    """A pure key range never evaluates a row; a range with another condition evaluates only its rows."""
    default = ids_of(get_all(app, "accounts?$select=name", page_size=5000))
    data = app.emulator.data
    seen: list[Any] = []
    original = data.view

    def counting_view(table: str, item: Any) -> Any:
        seen.append(item)
        return original(table, item)

    monkeypatch.setattr(data, "view", counting_view)
    low, high = default[200], default[260]
    assert len(get_all(app, f"accounts?$select=name&$filter=accountid ge {low} and accountid lt {high}")) == 60
    assert seen == []
    get_all(app, f"accounts?$select=name&$filter=accountid ge {low} and accountid lt {high} and name ne null")
    assert 60 <= len(seen) <= 61
