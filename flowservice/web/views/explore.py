"""Explore an account: every table from one ``GET …/explore?objectType=root`` call, filtered on the client
(``static/app.js``) and, for deep links and pages without JavaScript, on the server with ``?q=``; the selected
table (``?table=``) shows its columns and, on its preview tab, up to 100 rows."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from flowservice.web.client import FLOW
from flowservice.web.pages import Page, render

router = APIRouter()
PREVIEW_ROWS = 100


def matches(item: dict[str, Any], q: str) -> bool:
    return not q or q.lower() in f"{item.get('name', '')} {item.get('path', '')}".lower()


async def _pane(page: Page, conn: str, table: str, tab: str) -> dict[str, Any]:
    path = f"{FLOW}/connections/{quote(conn, safe='')}/explore"
    if tab == "preview":
        params = {"objectType": "table", "object": table, "preview": "true", "previewCount": str(PREVIEW_ROWS)}
        preview = await page.api.call("GET", path, params=params)
        rows = list(preview.get("data") or [])
        columns = [c["name"] for c in (preview.get("schema") or {}).get("columns") or []] or (
            list(rows[0]) if rows else []
        )
        return {"table": table, "tab": tab, "rows": rows, "row_columns": columns}
    described = await page.api.call("GET", path, params={"objectType": "table", "object": table})
    columns = list((described.get("schema") or {}).get("columns") or [])
    return {"table": table, "tab": tab, "columns": columns}


def _links(page: Page, conn: str, q: str) -> dict[str, str]:
    base = page.url(f"accounts/{quote(conn, safe='')}/explore")
    return {"base": base, "pane": base + "/pane", "q": q}


@router.get("/s/{sandbox}/accounts/{conn}/explore")
async def explore(request: Request, sandbox: str, conn: str, table: str = "", q: str = "", tab: str = "") -> Response:
    page = await Page.open(request, sandbox, "accounts")
    doc = (await page.api.call("GET", f"{FLOW}/connections/{quote(conn, safe='')}")).get("items", [{}])[0]
    items = await page.api.call(
        "GET", f"{FLOW}/connections/{quote(conn, safe='')}/explore", params={"objectType": "root"}
    )
    items = items if isinstance(items, list) else []
    shown = sum(1 for i in items if matches(i, q))
    pane = await _pane(page, conn, table, tab) if table else None
    context = {
        "doc": doc,
        "conn": conn,
        "items": items,
        "matches": matches,
        "shown": shown,
        "pane": pane,
        "links": _links(page, conn, q),
        "query": lambda **kw: urlencode({k: v for k, v in kw.items() if v}),
    }
    return render(request, "explore/page.html", context, page=page)


@router.get("/s/{sandbox}/accounts/{conn}/explore/pane")
async def pane(request: Request, sandbox: str, conn: str, table: str, q: str = "", tab: str = "") -> Response:
    """The right pane alone (htmx swaps it in; the link's own ``href`` is the full page)."""
    page = await Page.open(request, sandbox, "accounts")
    context = {
        "conn": conn,
        "pane": await _pane(page, conn, table, tab),
        "links": _links(page, conn, q),
        "query": lambda **kw: urlencode({k: v for k, v in kw.items() if v}),
    }
    return render(request, "explore/pane_fragment.html", context, page=page)
