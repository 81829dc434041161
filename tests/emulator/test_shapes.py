"""Fast renders in other shapes ($select, lookuplogicalname annotations) against the general path."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx
import orjson
import pytest

from crm_emulator.app import create_app
from crm_emulator.config import EmulatorConfig
from crm_emulator.data import OrgData
from crm_emulator.prefer import LOGICAL_NAME, parse_prefer
from crm_emulator.records import Renderer
from crm_emulator.schema import Column, Table

BIG = ("account", "contact", "lead", "opportunity", "cr6f1_project")
SMALL = ("systemuser", "team", "businessunit", "transactioncurrency")
LL = f'odata.include-annotations="{LOGICAL_NAME}"'


@pytest.fixture(scope="module")
def org() -> OrgData:
    return OrgData(seed=5, scale=2500, data_dir=None, cache_mb=0)


@pytest.fixture(scope="module")
def cached() -> OrgData:
    return OrgData(seed=5, scale=2500, data_dir=None, cache_mb=64)


def selects(table: Table, head: list[str]) -> dict[str, list[str] | None]:
    """Every property, all but one (entityimage on account, else a head property), a few including a money
    column, a lookup and a head property, and a multi-target lookup."""
    props = [c.prop for c in table.webapi_columns()]
    lookups = [p for p in props if table.by_prop[p].is_lookup]
    money = [p for p in props if table.by_prop[p].type_name == "MoneyType"][:1]
    multi = [p for p in lookups if len(table.by_prop[p].targets) > 1]
    left_out = "entityimage" if "entityimage" in props else head[0]
    few = [*head[:2], *money, lookups[0], *(["entityimage_url"] if "entityimage_url" in props else [])]
    return {
        "everything": None,
        "everything, reversed": props[::-1],
        f"all but {left_out}": [p for p in props if p != left_out],
        "a few": list(dict.fromkeys(few)),
        "a multi-target lookup": [*multi[:1], "createdon"] if multi else [lookups[-1]],
    }


def fast_and_slow(data: OrgData, name: str, select: list[str] | None, annotate: bool, indices: list[int]):
    renderer = Renderer(data, data.table(name), select, parse_prefer([LL] if annotate else []))
    assert renderer.fast
    fast = orjson.loads(b"[" + b",".join(bytes(p) for p in renderer.render_many(indices)) + b"]")
    slow = [orjson.loads(renderer.render(i)) for i in indices]
    return fast, slow


def annotated_targets(records: list[dict], prop: str) -> set[str | None]:
    return {r.get(f"{prop}@{LOGICAL_NAME}") if r.get(prop) else None for r in records}


@pytest.mark.parametrize("annotate", [False, True], ids=["plain", "annotated"])
@pytest.mark.parametrize("name", BIG + SMALL)
def test_a_select_with_lookup_annotations_renders_the_same_records_fast_and_slow(org, name, annotate):
    rows = org.rows[name]
    table = org.table(name)
    indices = list(range(990, 1300)) if rows.count > 1300 else list(range(rows.count))
    for label, select in selects(table, rows.head_keys).items():
        fast, slow = fast_and_slow(org, name, select, annotate, indices)
        assert fast == slow, (name, label)
        assert all(next(iter(r)) == "@odata.etag" for r in fast)
    # The rows compared hold null and non-null lookups, and multi-target lookups pointing at each target.
    everything, _ = fast_and_slow(org, name, None, annotate, indices)
    lookups = [c for c in table.webapi_columns() if c.is_lookup]
    assert any(r[c.prop] is None for r in everything for c in lookups)
    for col in lookups:
        seen = annotated_targets(everything, col.prop)
        if annotate and len(col.targets) > 1 and name in BIG:
            assert set(col.targets) <= seen, (col.prop, seen)
        if not annotate:
            assert seen <= {None}


def test_runs_in_a_shape_come_from_the_cache_with_page_boundaries_inside_chunks(cached):
    """Cached chunks of a shape are sliced where a page starts or ends inside them; the default shape's
    chunks are kept apart from the others'."""
    for name in BIG:
        select = [p for p in cached.rows[name].order if p != "entityimage"]
        windows = ((100, 400), (400, 625), (700, 1400), (1400, 2100), (1999, 2001))
        for start, stop in (w for w in windows if w[1] <= cached.rows[name].count):
            indices = list(range(start, stop))
            for annotate in (True, False):
                fast, slow = fast_and_slow(cached, name, select, annotate, indices)
                assert fast == slow, (name, start, annotate)
    select = [p for p in cached.rows["account"].order if p != "entityimage"]
    shape = Renderer(cached, cached.table("account"), select, parse_prefer([LL])).shape
    assert cached.cache.get("account", 1, shape) is not None
    assert cached.cache.get("account", 1) is None, "no default-shape request was made"


def test_rows_out_of_index_order_render_in_the_order_asked(org):
    """$orderby pages hand the fast path indices that do not increase."""
    indices = [5, 1, 2, 3, 1500, 7, 8, 1001, 999]
    for select in (None, ["name", "_primarycontactid_value"]):
        fast, slow = fast_and_slow(org, "account", select, True, indices)
        assert fast == slow
        assert [r["accountid"] for r in fast] == [org.rows["account"].ids.id(i) for i in indices]


def test_only_formatted_values_navigation_annotations_and_expand_leave_the_fast_path(org):
    table = org.table("account")

    def fast(select: list[str] | None, prefer: list[str], expand: bool = False) -> bool:
        expanded: list[tuple[Column, str, list[str] | None]] | None = (
            [(table.by_prop["_primarycontactid_value"], "primarycontactid", None)] if expand else None
        )
        return Renderer(org, table, select, parse_prefer(prefer), expanded).fast

    assert fast(["name"], [LL]) and fast(None, [LL]) and fast(["revenue", "name"], [])
    assert not fast(["name"], ['odata.include-annotations="OData.Community.Display.V1.FormattedValue"'])
    assert not fast(["name"], ['odata.include-annotations="Microsoft.Dynamics.CRM.associatednavigationproperty"'])
    assert not fast(None, ['odata.include-annotations="*"'])
    assert not fast(["name"], [], expand=True)


def test_the_connectors_request_is_served_fast_with_written_rows_mixed_in():
    """Change tracking, a 117-property $select, lookup annotations, 700-row pages: what flowservice asks for.
    Records equal the general path's (created, updated and deleted rows included) and the next page is read
    ahead into the cache in the request's shape."""
    app = create_app(EmulatorConfig(scale=2500, seed=4), cache_mb=64)
    data = app.emulator.data
    table = data.table("account")
    select = [c.prop for c in table.webapi_columns() if c.prop != "entityimage"]
    prefer = f"odata.track-changes,odata.maxpagesize=700,{LL}"
    shape = Renderer(data, table, select, parse_prefer([prefer])).shape
    ids = data.rows["account"].ids

    async def run() -> list[dict]:
        token, _ = app.emulator.identity.issue("app")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=app.emulator.config.api_url,
            headers={"Authorization": f"Bearer {token}", "Prefer": prefer},
        ) as client:
            first = ids.id(1500)
            inside = f"{int(first[:8], 16) - 1:08x}{first[8:]}"  # sorts just before row 1500, inside a chunk
            contact = data.rows["contact"].ids.id(3)
            created = {"accountid": inside, "name": "Inside", "primarycontactid@odata.bind": f"/contacts({contact})"}
            assert (await client.post("accounts", json=created)).status_code == 204
            assert (await client.patch(f"accounts({ids.id(999)})", json={"name": "Up"})).status_code == 204
            assert (await client.delete(f"accounts({ids.id(1200)})")).status_code == 204
            records: list[dict] = []
            url: str | None = f"accounts?$select={quote(','.join(select))}"
            while url:
                response = await client.get(url)
                assert response.status_code == 200, response.text
                page = orjson.loads(response.content)
                records.extend(page["value"])
                url = page.get("@odata.nextLink")
                if url and len(records) == 700:
                    for _ in range(50):  # the read-ahead runs once the page is sent
                        if data.cache.get("account", 1, shape) is not None:
                            break
                        await asyncio.sleep(0.02)
                    assert data.cache.get("account", 1, shape) is not None
            return records

    records = asyncio.run(run())
    assert len(records) == 2500 and ids.id(1200) not in {r["accountid"] for r in records}
    slow = Renderer(data, table, select, parse_prefer([prefer]))
    for record in records:
        expected = orjson.loads(slow.render(data.get("account", record["accountid"])))
        assert record == expected
    by_name = {r["name"]: r for r in records}
    assert by_name["Inside"][f"_primarycontactid_value@{LOGICAL_NAME}"] == "contact"
    assert "Up" in by_name and all("entityimage" not in r and "entityimage_url" in r for r in records)
