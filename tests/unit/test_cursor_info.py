"""The engine learns what a stored cursor means from its source alone; the Dynamics cursors every earlier
version stored keep the meaning the engine used to read out of them (``next_link``, ``mode: watermark``)."""

from __future__ import annotations

from typing import Any

import pytest

from flowservice.ports import CursorInfo
from flowservice.sources.dynamics.reader import cursor_info

LINK = "https://contoso.crm.dynamics.com/api/data/v9.2/accounts?$skiptoken=x"
DELTA = "https://contoso.crm.dynamics.com/api/data/v9.2/accounts?$deltatoken=9"
STAMP = "2026-01-01T00:00:05Z"


@pytest.mark.parametrize(
    ("cursor", "meaning"),
    [
        ({"mode": "changes", "next_link": LINK, "page_size": 10}, CursorInfo(mid_read=True)),
        ({"mode": "changes", "next_link": LINK, "page_size": 10, "full_resync": True}, CursorInfo(mid_read=True)),
        ({"mode": "changes", "delta_link": DELTA}, CursorInfo()),
        ({"mode": "watermark", "column": "modifiedon", "value": STAMP}, CursorInfo(overlap_until=STAMP)),
        (
            {"mode": "watermark", "column": "modifiedon", "value": STAMP, "next_link": LINK},
            CursorInfo(mid_read=True, overlap_until=STAMP),
        ),
        ({"mode": "watermark", "column": "versionnumber", "value": 42}, CursorInfo(overlap_until="42")),
        ({"mode": "watermark", "column": "modifiedon", "value": None}, CursorInfo()),
        ({"mode": "full"}, CursorInfo()),
        ({"mode": "full", "next_link": LINK, "full_resync": True}, CursorInfo(mid_read=True)),
    ],
)
def test_stored_dynamics_cursors_keep_their_meaning(cursor: dict[str, Any], meaning: CursorInfo) -> None:
    assert cursor_info(cursor) == meaning
