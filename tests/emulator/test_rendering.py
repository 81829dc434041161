"""The fast rendering path (runs of generated rows, the render cache, read-ahead) against the general one."""

from __future__ import annotations

import asyncio
import random

import httpx
import orjson
import pytest

from crm_emulator.app import create_app
from crm_emulator.config import EmulatorConfig
from crm_emulator.data import OrgData
from crm_emulator.ids import mix64
from crm_emulator.prefer import parse_prefer
from crm_emulator.records import Renderer
from crm_emulator.rendered import CHUNK
from crm_emulator.shapes import DEFAULT, Shape
from crm_emulator.vector import mix_all


@pytest.fixture(scope="module")
def org() -> OrgData:
    return OrgData(seed=7, scale=2500, data_dir=None, cache_mb=0)


def test_lane_parallel_hashes_are_mix64():
    rng = random.Random(3)
    for n in (0, 1, 15, 16, 1000):
        values = [rng.getrandbits(64) for _ in range(n)] + [0, 2**64 - 1]
        assert mix_all(values) == [mix64(v) for v in values]


def test_full_records_are_what_the_general_renderer_writes(org):
    """A record from a run (templates, bundle fragments) equals one rendered from the row's parsed values."""
    for name, rows in org.rows.items():
        if not rows.count:
            continue
        renderer = Renderer(org, org.table(name), None, parse_prefer([]))
        picks = {0, rows.count - 1, *(random.Random(name).randrange(rows.count) for _ in range(40))}
        for i in sorted(picks):
            assert rows.render(i) == renderer.render_values(rows.values(i)), (name, i)


def test_a_run_is_its_records_joined(org):
    for name in ("account", "contact", "lead", "opportunity", "cr6f1_project", "systemuser"):
        rows = org.rows[name]
        start, stop = CHUNK - 3, min(rows.count, CHUNK + 4)
        assert org.rows[name].render_run(start, stop) == b",".join(rows.render(i) for i in range(start, stop))


def _page_through(app, page_size: int) -> list[bytes]:
    async def run() -> list[bytes]:
        emu = app.emulator
        token, _ = emu.identity.issue("app")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=emu.config.api_url,
            headers={"Authorization": f"Bearer {token}", "Prefer": f"odata.maxpagesize={page_size}"},
        ) as client:
            first = emu.data.rows["account"].ids.id(1500)
            # A client-chosen id that sorts just before generated row 1500, in the middle of a cache chunk.
            inside = f"{int(first[:8], 16) - 1:08x}{first[8:]}"
            assert (await client.post("accounts", json={"accountid": inside, "name": "Inside"})).status_code == 204
            assert (
                await client.patch(f"accounts({emu.data.rows['account'].ids.id(999)})", json={"name": "Up"})
            ).status_code == 204
            assert (await client.delete(f"accounts({emu.data.rows['account'].ids.id(1200)})")).status_code == 204
            bodies: list[bytes] = []
            url: str | None = "accounts"
            while url:
                response = await client.get(url)
                assert response.status_code == 200, response.text
                bodies.append(response.content)
                url = orjson.loads(response.content).get("@odata.nextLink")
            return bodies

    return asyncio.run(run())


def _without_clock(body: bytes) -> dict:
    page = orjson.loads(body)
    for row in page["value"]:
        if row["name"] in ("Inside", "Up"):
            row.pop("createdon")
            row.pop("modifiedon")
    return page


def test_pages_through_the_render_cache_equal_pages_rendered_directly():
    """Page boundaries inside cache chunks, a created row inside a chunk, an update and a delete."""
    config = EmulatorConfig(scale=2500, seed=4)
    cached = _page_through(create_app(config, cache_mb=64), 700)
    direct = _page_through(create_app(config, cache_mb=0), 700)
    assert len(cached) == len(direct) == 4
    for ours, theirs in zip(cached, direct, strict=True):
        if ours != theirs:  # only the written rows' timestamps may differ (the apps ran a moment apart)
            assert _without_clock(ours) == _without_clock(theirs)
    rows = [row for body in cached for row in orjson.loads(body)["value"]]
    by_name = {row["name"]: row for row in rows if row["name"] in ("Inside", "Up")}
    assert len(rows) == 2500 and set(by_name) == {"Inside", "Up"}
    ids = [row["accountid"] for row in rows]
    generated = create_app(config).emulator.data.rows["account"].ids
    assert generated.id(1200) not in ids
    assert ids.index(by_name["Inside"]["accountid"]) == ids.index(generated.id(1500)) - 1


def test_read_ahead_renders_the_next_page_into_the_cache():
    app = create_app(EmulatorConfig(scale=5000, seed=2), cache_mb=64)
    data = app.emulator.data

    async def run() -> None:
        token, _ = app.emulator.identity.issue("app")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=app.emulator.config.api_url,
            headers={"Authorization": f"Bearer {token}", "Prefer": "odata.maxpagesize=2000"},
        ) as client:
            assert (await client.get("accounts")).status_code == 200
            for _ in range(50):
                if data.cache.get("account", 3) is not None:
                    break
                await asyncio.sleep(0.02)

    asyncio.run(run())
    assert [data.cache.get("account", c) is not None for c in range(5)] == [True, True, True, True, False]


def test_prerendered_tables_are_served_from_the_data_dir_and_survive_a_restart(tmp_path):
    first = OrgData(seed=9, scale=2300, data_dir=tmp_path, cache_mb=0)
    first.prerender_tables(["account"])
    store = first.rendered.store
    assert store is not None and {c for t, c in store.present if t == "account"} == {0, 1, 2}
    expected = [first.rows["account"].render(i) for i in (0, 999, 1000, 2299)]
    first.overlay.close()

    again = OrgData(seed=9, scale=2300, data_dir=tmp_path, cache_mb=0)
    rows = again.rows["account"]
    assert again.rendered.store is not None and again.rendered.store.present == store.present
    everything = rows.render_run(0, 2300)

    def no_rendering(start: int, stop: int, shape: Shape = DEFAULT) -> bytes:
        raise AssertionError("rendered although pre-rendered files exist")

    rows.render_run = no_rendering  # type: ignore[method-assign]
    assert everything == b",".join(bytes(p) for p in again.render_base("account", list(range(2300))))
    pieces = again.render_base("account", [0, 999, 1000, 2299])
    assert [bytes(p) for p in pieces] == expected
    del rows.render_run
    assert again.rendered_size() < OrgData(seed=9, scale=2300, data_dir=None).rendered_size()
    again.overlay.close()

    other = OrgData(seed=10, scale=2300, data_dir=tmp_path, cache_mb=0)
    assert other.rendered.store is not None and not other.rendered.store.present, "another seed, other files"
    other.prerender_tables(["cr6f1_project"])
    assert [p.name for p in (tmp_path / "rendered").iterdir()] == [other.rendered.store.dir.name]
    other.overlay.close()


def test_prerender_option_names_tables_by_logical_or_entity_set_name(org):
    from crm_emulator.cli import prerender_tables

    assert prerender_tables(org, "accounts, contact") == ["account", "contact"]
    assert "cr6f1_project" in prerender_tables(org, "all")
    with pytest.raises(SystemExit, match="not a table with rows"):
        prerender_tables(org, "emails")
