"""*Edit dataflow*: a flow's name, description and schedule, sent as JSON Patch under ``If-Match``.

The form carries the etag and the values the user saw, so only what the user changed is sent. A stale etag is
the API's 412: the page reads the flow again and shows, field by field, what changed elsewhere beside the
user's edit, and overwrites nothing. A schedule the API refuses (an interval under the spec's minimum, say)
is shown in the API's own words, with what was typed kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from flowservice.web import session
from flowservice.web.client import FLOW, ApiProblem
from flowservice.web.pages import Page, redirect, render
from flowservice.web.views.account_page import Change

router = APIRouter()
FREQUENCIES = ("once", "minute", "hour", "day", "week")
#: form field → (label, JSON Patch path, how the flow document holds it)
FIELDS = {
    "name": ("Dataflow name", "/name"),
    "description": ("Description", "/description"),
    "frequency": ("Frequency", "/scheduleParams/frequency"),
    "interval": ("Interval", "/scheduleParams/interval"),
}


def values_of(flow: dict[str, Any]) -> dict[str, str]:
    schedule = flow.get("scheduleParams") or {}
    return {
        "name": str(flow.get("name") or ""),
        "description": str(flow.get("description") or ""),
        "frequency": str(schedule.get("frequency") or ""),
        "interval": "" if schedule.get("interval") is None else str(schedule.get("interval")),
    }


def patch_of(submitted: dict[str, str]) -> list[dict[str, Any]]:
    """The operations for the fields whose value differs from the one the form showed (``seen.*``). The
    interval goes as the number it is; an interval emptied (a run-once flow has none) is removed."""
    ops: list[dict[str, Any]] = []
    for name, (_label, path) in FIELDS.items():
        value = submitted.get(name, "").strip()
        if value == submitted.get("seen." + name, ""):
            continue
        if name == "interval" and not value:
            ops.append({"op": "remove", "path": path})
        else:
            ops.append(
                {"op": "add", "path": path, "value": int(value) if name == "interval" and value.isdigit() else value}
            )
    return ops


def changes_between(submitted: dict[str, str], current: dict[str, Any]) -> list[Change]:
    now = values_of(current)
    found = []
    for name, (label, _path) in FIELDS.items():
        seen, mine = submitted.get("seen." + name, ""), submitted.get(name, "").strip()
        if now[name] != seen or mine != seen:
            found.append(Change(name, label, seen, now[name], mine))
    return found


async def _flow(page: Page, flow_id: str) -> dict[str, Any]:
    items = (await page.api.call("GET", f"{FLOW}/flows/{quote(flow_id, safe='')}")).get("items") or [{}]
    flow: dict[str, Any] = items[0]
    return flow


def _context(flow: dict[str, Any], mine: dict[str, str] | None = None) -> dict[str, Any]:
    return {"flow": flow, "values": values_of(flow), "mine": mine or {}, "frequencies": FREQUENCIES}


@router.get("/s/{sandbox}/dataflows/{flow_id}/edit")
async def edit_form(request: Request, sandbox: str, flow_id: str) -> Response:
    page = await Page.open(request, sandbox, "dataflows")
    return render(request, "dataflows/edit.html", _context(await _flow(page, flow_id)), page=page)


@router.post("/s/{sandbox}/dataflows/{flow_id}/edit")
async def edit(request: Request, sandbox: str, flow_id: str) -> Response:
    submitted = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    session.check_csrf(request, submitted.get(session.CSRF_FIELD))
    page = await Page.open(request, sandbox, "dataflows")
    activity = page.url(f"dataflows/{quote(flow_id, safe='')}")
    ops = patch_of(submitted)
    if not ops:
        return redirect(activity + "?saved=nothing")
    try:
        path = f"{FLOW}/flows/{quote(flow_id, safe='')}"
        await page.api.call("PATCH", path, json_body=ops, etag=submitted.get("etag", ""))
    except ApiProblem as problem:
        if problem.status == 401:
            raise
        current = await _flow(page, flow_id)
        context = {**_context(current, submitted), "problem": problem}
        if problem.status == 412:
            context["changes"] = changes_between(submitted, current)
            return render(request, "dataflows/edit_conflict.html", context, status=412, page=page)
        return render(request, "dataflows/edit.html", context, status=problem.status, page=page)
    return redirect(activity + "?saved=1")
