"""Accounts (base connections): the list (paged with the API's ``continuationToken``), test, delete."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from flowservice.web import session
from flowservice.web.client import FLOW, ApiProblem
from flowservice.web.forms import hint_for
from flowservice.web.pages import Page, redirect, render
from flowservice.web.views.sources import title_of

router = APIRouter()
PAGE_SIZE = 50


def _connection_path(conn: str) -> str:
    return f"{FLOW}/connections/{quote(conn, safe='')}"


@router.get("/s/{sandbox}/accounts")
async def accounts(request: Request, sandbox: str, cursor: str = "", deleted: str = "") -> Response:
    page = await Page.open(request, sandbox, "accounts")
    params = [("limit", str(PAGE_SIZE)), ("orderby", "-createdAt")]
    if cursor:
        params.append(("continuationToken", cursor))
    listing = await page.api.call("GET", f"{FLOW}/connections", params=params)
    specs = {s["id"]: title_of(s) for s in (await page.api.call("GET", f"{FLOW}/connectionSpecs")).get("items", [])}
    rows = []
    for doc in listing.get("items", []):
        auth = doc.get("auth") or {}
        params_shown = auth.get("params") or {}
        rows.append(
            {
                "doc": doc,
                "source": specs.get((doc.get("connectionSpec") or {}).get("id"), "unknown source"),
                "auth": auth.get("specName", ""),
                "uri": params_shown.get("serviceUri", ""),
                "user": params_shown.get("username") or params_shown.get("servicePrincipalId") or "",
            }
        )
    next_href = ((listing.get("_links") or {}).get("next") or {}).get("href", "")
    next_cursor = (parse_qs(urlsplit(next_href).query).get("continuationToken") or [""])[0]
    context = {"rows": rows, "next_cursor": next_cursor, "cursor": cursor, "deleted": deleted}
    return render(request, "accounts/list.html", context, page=page)


async def _test(page: Page, conn: str) -> dict[str, Any]:
    try:
        tested = await page.api.call("GET", f"{_connection_path(conn)}/test")
    except ApiProblem as problem:
        if problem.status in (401, 404):
            raise
        return {"ok": False, "reason": problem.message, "problem": problem, "hint": hint_for(problem.message)}
    if tested.get("result"):
        return {"ok": True, "reason": "", "problem": None, "hint": None}
    reason = str(tested.get("reason") or "The source refused the connection.")
    return {"ok": False, "reason": reason, "problem": None, "hint": hint_for(reason)}


@router.get("/s/{sandbox}/accounts/{conn}/test")
async def test(request: Request, sandbox: str, conn: str) -> Response:
    """Testing reads (``GET …/test``): a link, no form. htmx swaps just the result into the row."""
    page = await Page.open(request, sandbox, "accounts")
    doc = (await page.api.call("GET", _connection_path(conn))).get("items", [{}])[0]
    result = await _test(page, conn)
    template = "accounts/test_fragment.html" if request.headers.get("hx-request") == "true" else "accounts/test.html"
    return render(request, template, {"doc": doc, "conn": conn, **result}, page=page)


@router.get("/s/{sandbox}/accounts/{conn}/delete")
async def delete_confirm(request: Request, sandbox: str, conn: str) -> Response:
    page = await Page.open(request, sandbox, "accounts")
    doc = (await page.api.call("GET", _connection_path(conn))).get("items", [{}])[0]
    return render(request, "accounts/delete.html", {"doc": doc, "conn": conn}, page=page)


@router.post("/s/{sandbox}/accounts/{conn}/delete")
async def delete(request: Request, sandbox: str, conn: str) -> Response:
    form = await request.form()
    submitted = form.get(session.CSRF_FIELD)
    session.check_csrf(request, submitted if isinstance(submitted, str) else None)
    page = await Page.open(request, sandbox, "accounts")
    doc = (await page.api.call("GET", _connection_path(conn))).get("items", [{}])[0]
    try:
        await page.api.call("DELETE", _connection_path(conn))
    except ApiProblem as problem:
        if problem.status == 401:
            raise
        context = {"doc": doc, "conn": conn, "problem": problem}
        return render(request, "accounts/delete.html", context, status=problem.status, page=page)
    return redirect(page.url("accounts") + "?deleted=" + quote(str(doc.get("name") or conn)))
