"""A run, live (S11), and its row errors (S12).

- ``/ui/s/{sb}/runs/{id}``: ``GET /runs/{id}``; status (icon and text), error summary first, counters, rates, the
  records/s chart from the document's progress samples (so it exists after a reload and for finished runs),
  activities. While the run is not final, its live section polls ``…/live`` every second (``hx-trigger``), which
  the script holds back while the tab is hidden; the final fragment has no trigger, so polling stops. The status
  live region sits outside the polled section and changes only when the status does.
- ``/ui/s/{sb}/runs/{id}/errors``: every row error (``GET /runs/{id}/errors`` page by page; the server keeps at
  most 1000 per run) grouped by code with a count and one example, filtered by ``code`` and ``column`` in the
  query string, 50 a page; ``errors.jsonl`` and ``errors.csv`` stream them all as files.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from flowservice.web import session
from flowservice.web.charts import average_rate, rates, records_per_second
from flowservice.web.client import FLOW, ApiProblem
from flowservice.web.pages import SECURITY_HEADERS, Page, redirect, render
from flowservice.web.run_text import counts_of, duration_words, run_status, status_of, utc_iso

router = APIRouter()
ERRORS_PAGE = 50
API_ERRORS_PAGE = 1000
"""The most ``GET /runs/{id}/errors`` answers at once."""
MAX_ERROR_PAGES = 100
"""A bound on the pages one download reads (the server keeps 1,000 errors per run, one page)."""
_QUOTED = re.compile(r"'([^']{1,128})'")


def run_path(run_id: str) -> str:
    return f"{FLOW}/runs/{quote(run_id, safe='')}"


async def get_run(page: Page, run_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await page.api.call("GET", run_path(run_id))).get("items", [{}])[0]
    return found


async def flow_of(page: Page, flow_id: str) -> dict[str, Any] | None:
    """The run's flow, or None once it is deleted (a run outlives its flow until retention prunes it)."""
    if not flow_id:
        return None
    try:
        found: dict[str, Any] = (await page.api.call("GET", f"{FLOW}/flows/{quote(flow_id, safe='')}")).get(
            "items", [{}]
        )[0]
    except ApiProblem as problem:
        if problem.status == 404:
            return None
        raise
    return found


def samples_of(run: dict[str, Any]) -> list[list[int]]:
    """The run's progress samples, then a point for the counters of its latest update when that is newer
    (the document is updated every second, samples only at commits)."""
    records = (run.get("metrics") or {}).get("recordSummary") or {}
    found = (records.get("extensions") or {}).get("samples") or []
    series = [list(s) for s in found if isinstance(s, list) and len(s) == 5 and all(isinstance(v, int) for v in s)]
    counts = counts_of(run)
    updated = max((a.get("updatedAtUTC") or 0 for a in run.get("activities") or []), default=0)
    now = [int(updated), counts.read, counts.written, counts.deleted, counts.failed]
    if updated and (
        not series or (updated > series[-1][0] and all(a <= b for a, b in zip(series[-1], now, strict=False)))
    ):
        series.append(now)
    return series


def dataset_of(run: dict[str, Any]) -> str:
    for activity in run.get("activities") or []:
        for target in activity.get("targetInfo") or []:
            if target.get("dataSetId"):
                return str(target["dataSetId"])
    return ""


def live_context(page: Page, run: dict[str, Any]) -> dict[str, Any]:
    status = run_status(run)
    counts = counts_of(run)
    series = samples_of(run)
    now_ms = int(time.time() * 1000)
    rate_series = rates(series)
    summary = (run.get("metrics") or {}).get("statusSummary") or {}
    activities = []
    for activity in run.get("activities") or []:
        duration = activity.get("durationSummary") or {}
        records = activity.get("recordSummary") or {}
        started, completed = duration.get("startedAtUTC"), duration.get("completedAtUTC")
        activities.append(
            {
                "id": activity.get("id", ""),
                "status": status_of((activity.get("statusSummary") or {}).get("status")),
                "started": utc_iso(started),
                "duration": duration_words((completed or now_ms) - started if started else None),
                "read": records.get("inputRecordCount"),
                "written": records.get("outputRecordCount"),
            }
        )
    return {
        "run": run,
        "status": status,
        "counts": counts,
        "elapsed": duration_words(counts.elapsed_ms(now_ms)),
        "rate_now": rate_series[-1][1] if rate_series and not status.final else None,
        "rate_average": counts.average_rate(now_ms) if counts.completed else average_rate(series),
        "chart": records_per_second(series, live=not status.final),
        "errors": list(summary.get("errors") or []),
        "run_kind": str((summary.get("extensions") or {}).get("type") or ""),
        "activities": activities,
        "live_url": page.url(f"runs/{quote(str(run.get('id', '')), safe='')}/live") + f"?was={status.code}",
        "dataset_id": dataset_of(run),
    }


@router.get("/s/{sandbox}/runs/{run_id}")
async def run_page(request: Request, sandbox: str, run_id: str, started: str = "") -> Response:
    page = await Page.open(request, sandbox, "dataflows")
    run = await get_run(page, run_id)
    flow = await flow_of(page, str(run.get("flowId") or ""))
    context = {**live_context(page, run), "flow": flow, "started": started}
    return render(request, "runs/detail.html", context, page=page)


@router.get("/s/{sandbox}/runs/{run_id}/live")
async def run_live(request: Request, sandbox: str, run_id: str, was: str = "") -> Response:
    """The live section alone (htmx polls it), with the status live region out of band only when the status
    changed since ``was``: a screen reader hears status changes, not every tick."""
    page = await Page.open(request, sandbox, "dataflows")
    run = await get_run(page, run_id)
    context = live_context(page, run)
    context["announce"] = context["status"].code != was
    return render(request, "runs/live_fragment.html", context, page=page)


async def _checked_form(request: Request) -> None:
    form = await request.form()
    submitted = form.get(session.CSRF_FIELD)
    session.check_csrf(request, submitted if isinstance(submitted, str) else None)


@router.post("/s/{sandbox}/runs/{run_id}/retrigger")
async def retrigger(request: Request, sandbox: str, run_id: str) -> Response:
    """``POST /runs/{id}/action?op=re-trigger``: the same run continues from its last commit."""
    await _checked_form(request)
    page = await Page.open(request, sandbox, "dataflows")
    await page.api.call("POST", f"{run_path(run_id)}/action", params={"op": "re-trigger"})
    return redirect(page.url(f"runs/{quote(run_id, safe='')}") + "?started=retriggered", request)


@router.post("/s/{sandbox}/runs/{run_id}/again")
async def run_again(request: Request, sandbox: str, run_id: str) -> Response:
    """A new on-demand run of the run's flow (``POST /runs``)."""
    await _checked_form(request)
    page = await Page.open(request, sandbox, "dataflows")
    run = await get_run(page, run_id)
    created = await page.api.call("POST", f"{FLOW}/runs", json_body={"flowId": run.get("flowId")})
    return redirect(page.url(f"runs/{quote(str(created['id']), safe='')}") + "?started=new", request)


# ------------------------------------------------------------------------------------------- row errors
def error_column(error: dict[str, Any]) -> str:
    """The column an error names: its ``column`` when the API gives one, else the first quoted name of its
    message (``… the primary key 'accountid'.``)."""
    if error.get("column"):
        return str(error["column"])
    found = _QUOTED.search(str(error.get("message") or ""))
    return found.group(1) if found else ""


async def all_errors(page: Page, run_id: str) -> AsyncIterator[dict[str, Any]]:
    """Every row error of the run, page after page of the API."""
    start = 0
    for _ in range(MAX_ERROR_PAGES):
        answer = await page.api.call(
            "GET", f"{run_path(run_id)}/errors", params={"start": str(start), "limit": str(API_ERRORS_PAGE)}
        )
        errors = list(answer.get("errors") or [])
        for error in errors:
            yield error
        if len(errors) < API_ERRORS_PAGE:
            return
        start += len(errors)


def group_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors by code, the most frequent first, each with its count, the columns it names and one example."""
    groups: dict[str, dict[str, Any]] = {}
    for error in errors:
        code = str(error.get("code") or "")
        group = groups.setdefault(code, {"code": code, "count": 0, "columns": [], "example": error})
        group["count"] += 1
        column = error_column(error)
        if column and column not in group["columns"]:
            group["columns"].append(column)
    return sorted(groups.values(), key=lambda g: (-g["count"], g["code"]))


def _record_text(error: dict[str, Any]) -> str:
    return json.dumps(error.get("record"), ensure_ascii=False, sort_keys=True, default=str)


@router.get("/s/{sandbox}/runs/{run_id}/errors")
async def errors_page(
    request: Request, sandbox: str, run_id: str, code: str = "", column: str = "", start: int = 0
) -> Response:
    page = await Page.open(request, sandbox, "dataflows")
    run = await get_run(page, run_id)
    flow = await flow_of(page, str(run.get("flowId") or ""))
    errors = [e async for e in all_errors(page, run_id)]
    shown = [
        e for e in errors if (not code or str(e.get("code")) == code) and (not column or error_column(e) == column)
    ]
    start = max(0, min(start, max(0, len(shown) - 1)))
    base = page.url(f"runs/{quote(run_id, safe='')}/errors")

    def link(**changes: Any) -> str:
        query = {"code": code, "column": column, "start": str(start) if start else "", **changes}
        encoded = urlencode({k: v for k, v in query.items() if v})
        return base + ("?" + encoded if encoded else "")

    rows = [
        {"n": start + i + 1, "error": e, "column": error_column(e), "record": _record_text(e)}
        for i, e in enumerate(shown[start : start + ERRORS_PAGE])
    ]
    context = {
        "run": run,
        "flow": flow,
        "status": run_status(run),
        "counts": counts_of(run),
        "groups": group_errors(errors),
        "columns": sorted({error_column(e) for e in errors} - {""}),
        "total": len(errors),
        "shown_total": len(shown),
        "rows": rows,
        "code": code,
        "column": column,
        "start": start,
        "previous": link(start=str(max(0, start - ERRORS_PAGE))) if start else "",
        "next": link(start=str(start + ERRORS_PAGE)) if start + ERRORS_PAGE < len(shown) else "",
        "link": link,
        "base": base,
        "run_url": page.url(f"runs/{quote(run_id, safe='')}"),
    }
    return render(request, "runs/errors.html", context, page=page)


def _download(filename: str, media_type: str, body: AsyncIterator[str]) -> StreamingResponse:
    async def encoded() -> AsyncIterator[bytes]:
        async for chunk in body:
            yield chunk.encode()

    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
    return StreamingResponse(encoded(), media_type=media_type, headers=headers)


@router.get("/s/{sandbox}/runs/{run_id}/errors.jsonl")
async def errors_jsonl(request: Request, sandbox: str, run_id: str) -> Response:
    """Every row error as JSON lines, streamed as the API's pages arrive."""
    page = await Page.open(request, sandbox, "dataflows")
    await get_run(page, run_id)  # a run of another sandbox is a 404 page, not an empty file

    async def lines() -> AsyncIterator[str]:
        async for error in all_errors(page, run_id):
            yield json.dumps(error, ensure_ascii=False, sort_keys=True, default=str) + "\n"

    return _download(f"run-{run_id}-errors.jsonl", "application/x-ndjson", lines())


@router.get("/s/{sandbox}/runs/{run_id}/errors.csv")
async def errors_csv(request: Request, sandbox: str, run_id: str) -> Response:
    """Every row error as CSV (code, column, message, the record as JSON)."""
    page = await Page.open(request, sandbox, "dataflows")
    await get_run(page, run_id)

    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["code", "column", "message", "record"])
        async for error in all_errors(page, run_id):
            writer.writerow([error.get("code", ""), error_column(error), error.get("message", ""), _record_text(error)])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    return _download(f"run-{run_id}-errors.csv", "text/csv; charset=utf-8", lines())
