"""A flood of wrong-secret token requests, for ``bench/abuse.py``: several threads, each with its own
keep-alive connection, post ``/ims/token/v3`` with a known client id and a wrong secret until ``stop`` is set.

The server should answer 401 for the first failures and 429 (with ``Retry-After``) once the client's or the
address's failure budget is spent; a flood that keeps retrying therefore costs the server almost nothing.
Returns how many answers of each status the flood received (0 for a connection error).
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import httpx


def flood_token_endpoint(
    url: str,
    stop: threading.Event,
    *,
    client_id: str,
    threads: int = 4,
    timeout: float = 30.0,
    statuses: collections.Counter[int] | None = None,
) -> collections.Counter[int]:
    """Hammer ``{url}/ims/token/v3`` from ``threads`` threads until ``stop`` is set; count the statuses (into
    ``statuses`` when given, which a caller may watch while the flood runs)."""
    statuses = collections.Counter() if statuses is None else statuses
    lock = threading.Lock()

    def hammer(index: int) -> None:
        body: dict[str, Any] = {"grant_type": "client_credentials", "client_id": client_id}
        with httpx.Client(base_url=url, timeout=timeout) as http:
            attempt = 0
            while not stop.is_set():
                attempt += 1
                body["client_secret"] = f"wrong-{index}-{attempt}"
                try:
                    status = http.post("/ims/token/v3", data=body).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    statuses[status] += 1

    workers = [threading.Thread(target=hammer, args=(i,), name=f"token-flood-{i}", daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return statuses
