"""The app in-process through httpx.ASGITransport, determinism, and a million accounts."""

from __future__ import annotations

import asyncio
import time

import httpx

from crm_emulator.app import create_app
from crm_emulator.config import EmulatorConfig
from crm_emulator.ids import sql_key


def fetch(app, paths: list[str], headers: dict[str, str] | None = None) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        emu = app.emulator
        token, _ = emu.identity.issue("app")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=emu.config.api_url,
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
        ) as client:
            return [await client.get(p) for p in paths]

    return asyncio.run(run())


def test_create_app_serves_the_web_api_in_process():
    app = create_app(EmulatorConfig(scale=100, seed=5))
    accounts, who = fetch(app, ["accounts?$select=name&$top=3", "WhoAmI"])
    assert accounts.status_code == 200 and len(accounts.json()["value"]) == 3
    assert who.json()["UserId"]


def test_same_seed_gives_the_same_org_and_another_seed_another():
    one = fetch(create_app(EmulatorConfig(scale=100, seed=5)), ["accounts?$top=20"])[0].json()["value"]
    two = fetch(create_app(EmulatorConfig(scale=100, seed=5)), ["accounts?$top=20"])[0].json()["value"]
    other = fetch(create_app(EmulatorConfig(scale=100, seed=6)), ["accounts?$top=20"])[0].json()["value"]
    assert one == two and one != other


def test_a_million_accounts_start_fast_and_page_from_anywhere():
    started = time.monotonic()
    app = create_app(EmulatorConfig(scale=1_000_000, seed=1))
    assert time.monotonic() - started < 60
    rows = app.emulator.data.rows["account"]
    near_end = rows.ids.id(999_990)
    first, tail, count = fetch(
        app,
        [
            "accounts?$select=name",
            f"accounts?$select=name&$filter=accountid gt {near_end}",
            "accounts/$count",
        ],
        headers={"Prefer": "odata.maxpagesize=5000"},
    )
    assert len(first.json()["value"]) == 5000 and "@odata.nextLink" in first.json()
    ids = [r["accountid"] for r in tail.json()["value"]]
    assert len(ids) == 9 and ids == sorted(ids, key=sql_key)
    assert count.text == "5000", "$count is capped at 5,000 like Dataverse"
