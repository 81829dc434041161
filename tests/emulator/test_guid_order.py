"""SQL Server's uniqueidentifier order, byte for byte.

``System.Data.SqlTypes.SqlGuid`` (SQL Server's comparison, as Microsoft's "Comparing GUID and uniqueidentifier
values" describes) compares the bytes of ``Guid.ToByteArray()`` in the order 10–15, 8–9, 6–7, 4–5, 0–3. That
array holds the first three groups little-endian, so within those groups the displayed bytes count right to
left; bytes 8–15 count as displayed.
"""

from __future__ import annotations

import asyncio

import httpx

from crm_emulator.app import create_app
from crm_emulator.config import EmulatorConfig
from crm_emulator.ids import sql_key

# Each pair: (smaller, larger) in SQL Server's order; only one group differs.
PAIRS = [
    ("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-010000000000"),  # bytes 10-15, left to right
    ("00000000-0000-0000-0001-000000000000", "00000000-0000-0000-0100-000000000000"),  # bytes 8-9 left to right
    ("00000000-0000-0100-0000-000000000000", "00000000-0000-0001-0000-000000000000"),  # group 3 right to left
    ("00000000-0100-0000-0000-000000000000", "00000000-0001-0000-0000-000000000000"),  # group 2 right to left
    ("01000000-0000-0000-0000-000000000000", "00000001-0000-0000-0000-000000000000"),  # group 1 right to left
    ("ffffffff-ffff-ffff-ffff-000000000000", "00000000-0000-0000-0000-000000000001"),  # later groups decide first
    ("ffffffff-ffff-ffff-0000-000000000001", "00000000-0000-0000-0001-000000000001"),
    ("ffffffff-ffff-0100-0000-000000000000", "00000000-0000-00ff-0000-000000000000"),  # group 3 before 2 and 1
]


def test_the_sort_key_follows_sqlguid_byte_order():
    for smaller, larger in PAIRS:
        assert sql_key(smaller) < sql_key(larger), (smaller, larger)


def test_key_ranges_and_paging_follow_it_for_ids_clients_supply():
    app = create_app(EmulatorConfig(scale=50, seed=2))
    low, high = "aaaaaaaa-0000-0100-8000-00000000beef", "aaaaaaaa-0000-0001-8000-00000000beef"

    async def run() -> tuple[list[str], list[str]]:
        token, _ = app.emulator.identity.issue("app")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=app.emulator.config.api_url,
            headers={"Authorization": f"Bearer {token}"},
        ) as api:
            for row_id in (high, low):
                created = await api.post("accounts", json={"accountid": row_id, "name": row_id})
                assert created.status_code == 204, created.text
            both = await api.get(f"accounts?$select=name&$filter=accountid ge {low} and accountid le {high}")
            above = await api.get(f"accounts?$select=name&$filter=accountid gt {low}")
            return [r["accountid"] for r in both.json()["value"]], [r["accountid"] for r in above.json()["value"]]

    both, above = asyncio.run(run())
    assert both == [low, high]
    assert high in above and low not in above
