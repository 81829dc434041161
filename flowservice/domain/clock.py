"""Time as the documents store it: epoch milliseconds (``createdAt``, heartbeats, schedule windows)."""

from __future__ import annotations

import time


def now_ms() -> int:
    return int(time.time() * 1000)
