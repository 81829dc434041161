"""The floor for ``bench/api.py``: a bare FastAPI app served exactly as ``flowservice serve`` serves ours
(``uvicorn.run(app, host, port, log_level="warning", access_log=False)``, so the same loop and HTTP parser).

Routes, all returning small JSON and ignoring the identity headers the bench sends them:

* ``GET /floor/items/{item_id}`` and ``POST /floor/items`` (reads and parses the JSON body, answers 201):
  the floor for our GET and POST.
* ``GET /floor/sync/items/{item_id}``: the same GET as a plain ``def`` (run in the threadpool, as our routes
  are), a diagnostic that isolates the cost of the threadpool hop.

Run: ``python bench/_floor_app.py --port 8099``.
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

import uvicorn
from fastapi import FastAPI, Request

app = FastAPI(title="floor")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/floor/items/{item_id}")
async def get_item(item_id: str) -> dict[str, Any]:
    return {"items": [{"id": item_id, "name": "Dynamics Connection", "state": "enabled"}]}


@app.get("/floor/sync/items/{item_id}")
def get_item_sync(item_id: str) -> dict[str, Any]:
    return {"items": [{"id": item_id, "name": "Dynamics Connection", "state": "enabled"}]}


@app.post("/floor/items", status_code=201)
async def create_item(request: Request) -> dict[str, Any]:
    body = json.loads(await request.body())
    return {"id": str(uuid.uuid4()), "etag": f'"{uuid.uuid4()}"', "name": body.get("name")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # the same call and settings as flowservice/cli.py serve
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
