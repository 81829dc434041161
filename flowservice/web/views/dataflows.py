"""Dataflows (S9) and a dataflow's activity (S10), with their actions: run now, enable/disable, delete.

- ``/ui/s/{sb}/dataflows``: ``GET /flows`` 50 a page (``continuationToken``), newest first; ``failures=1`` is the
  API's ``property=lastRunDetails.state==failed``; ``q`` searches name, table and ids over the first 1,000 flows
  (the API filters on equality only). Each row: source table (``GET /sourceConnections?property=id==…``, one call),
  dataset, state, schedule in words, last run (``lastRunDetails``, its records from the runs of the last 24 h or
  its own ``GET /runs/{id}``), next run, failed runs in the last 24 h (one ``GET /runs`` over that range). The
  table polls every 10 s while the tab is visible and no dialog is open.
- ``/ui/s/{sb}/dataflows/{id}?range=24h|7d|30d``: KPI tiles and the records-per-run chart over the range
  (``GET /runs?property=flowId==…&property=createdAt>…``), the runs table paged by the API, the properties.
"""

from __future__ import annotations

import statistics
import time
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from flowservice.web import session
from flowservice.web.charts import RunBar, records_per_run
from flowservice.web.client import FLOW, ApiProblem
from flowservice.web.pages import Page, redirect, render
from flowservice.web.run_text import (
    counts_of,
    duration_words,
    next_window,
    run_status,
    schedule_words,
    status_of,
    utc_iso,
)

router = APIRouter()
PAGE_SIZE = 50
RUNS_PAGE = 20
BULK_LIMIT = 50  # one page of the list
SEARCH_LIMIT = 1000
RANGES = {"24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
DAY_MS = 86_400_000


def flow_path(flow_id: str) -> str:
    return f"{FLOW}/flows/{quote(flow_id, safe='')}"


def next_token(listing: dict[str, Any]) -> str:
    href = ((listing.get("_links") or {}).get("next") or {}).get("href", "")
    return str((parse_qs(urlsplit(str(href)).query).get("continuationToken") or [""])[0])


async def _by_ids(page: Page, collection: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Documents of ``collection`` by id, in one listing call (``property=id==a,b,…``)."""
    wanted = sorted({i for i in ids if i and "," not in i})
    if not wanted:
        return {}
    params = [("property", "id==" + ",".join(wanted)), ("limit", str(min(1000, len(wanted))))]
    listing = await page.api.call("GET", f"{FLOW}/{collection}", params=params)
    return {str(doc.get("id")): doc for doc in listing.get("items", [])}


async def _dataset_names(page: Page) -> dict[str, str]:
    found = await page.api.call("GET", "/data/foundation/catalog/dataSets", params={"limit": "100"})
    return {k: str(v.get("name") or k) for k, v in (found or {}).items() if isinstance(v, dict)}


async def _recent_runs(page: Page, since_ms: int, flow_id: str | None = None) -> list[dict[str, Any]]:
    params = [("property", f"createdAt>{since_ms}"), ("limit", "1000"), ("orderby", "createdAt")]
    if flow_id:
        params.insert(0, ("property", f"flowId=={flow_id}"))
    listing = await page.api.call("GET", f"{FLOW}/runs", params=params)
    return list(listing.get("items") or [])


def _table_of(source: dict[str, Any] | None) -> str:
    return str(((source or {}).get("params") or {}).get("tableName") or "")


async def _rows(page: Page, flows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now_ms = int(time.time() * 1000)
    sources = await _by_ids(page, "sourceConnections", [(f.get("sourceConnectionIds") or [""])[0] for f in flows])
    targets = await _by_ids(page, "targetConnections", [(f.get("targetConnectionIds") or [""])[0] for f in flows])
    names = await _dataset_names(page) if flows else {}
    recent = await _recent_runs(page, now_ms - DAY_MS) if flows else []
    by_id = {str(r.get("id")): r for r in recent}
    rows = []
    for flow in flows:
        source = sources.get((flow.get("sourceConnectionIds") or [""])[0])
        target = targets.get((flow.get("targetConnectionIds") or [""])[0])
        dataset_id = str(((target or {}).get("params") or {}).get("dataSetId") or "")
        last = flow.get("lastRunDetails") or {}
        last_run = by_id.get(str(last.get("id") or ""))
        if last and last_run is None:
            try:
                last_run = (await page.api.call("GET", f"{FLOW}/runs/{quote(str(last['id']), safe='')}"))["items"][0]
            except ApiProblem as problem:
                if problem.status != 404:  # pruned meanwhile: the row shows the state it has
                    raise
        mine = [r for r in recent if r.get("flowId") == flow.get("id")]
        enabled = flow.get("state") == "enabled"
        upcoming = next_window(flow.get("scheduleParams")) if enabled else None
        rows.append(
            {
                "flow": flow,
                "table": _table_of(source),
                "dataset_id": dataset_id,
                "dataset": names.get(dataset_id, dataset_id),
                "enabled": enabled,
                "schedule": schedule_words(flow.get("scheduleParams")),
                "last": last,
                "last_status": status_of(last.get("state")) if last else None,
                "last_counts": counts_of(last_run) if last_run else None,
                "last_started": utc_iso(last.get("startedAtUTC")),
                "next": utc_iso(upcoming * 1000) if upcoming else "",
                "failures": sum(1 for r in mine if run_status(r).code == "failed"),
            }
        )
    return rows


def _matches(row: dict[str, Any], q: str) -> bool:
    flow = row["flow"]
    haystack = " ".join([str(flow.get("name", "")), str(flow.get("id", "")), row["table"], row["dataset"]])
    return q.lower() in haystack.lower()


@router.get("/s/{sandbox}/dataflows")
async def dataflows(
    request: Request,
    sandbox: str,
    cursor: str = "",
    failures: str = "",
    q: str = "",
    started: str = "",
    deleted: str = "",
    bulk: str = "",
) -> Response:
    page = await Page.open(request, sandbox, "dataflows")
    params = [("orderby", "-createdAt")]
    if failures:
        params.append(("property", "lastRunDetails.state==failed"))
    q = q.strip()[:200]
    if q:  # the API has no text search: look through the first SEARCH_LIMIT flows
        listing = await page.api.call("GET", f"{FLOW}/flows", params=[*params, ("limit", str(SEARCH_LIMIT))])
        rows = [r for r in await _rows(page, list(listing.get("items", []))) if _matches(r, q)][:PAGE_SIZE]
        next_cursor = ""
    else:
        params.append(("limit", str(PAGE_SIZE)))
        if cursor:
            params.append(("continuationToken", cursor))
        listing = await page.api.call("GET", f"{FLOW}/flows", params=params)
        rows = await _rows(page, list(listing.get("items", [])))
        next_cursor = next_token(listing)
    query = {"failures": failures, "q": q, "cursor": cursor}
    here = page.url("dataflows") + _query(**query)
    context = {
        "rows": rows,
        "cursor": cursor,
        "next_url": page.url("dataflows") + _query(failures=failures, cursor=next_cursor) if next_cursor else "",
        "failures": failures,
        "q": q,
        "here": here,
        "started": started,
        "deleted": deleted,
        "bulk": bulk[:2000],
        "updated": utc_iso(time.time() * 1000),
    }
    template = "dataflows/table_fragment.html" if request.headers.get("hx-request") == "true" else "dataflows/list.html"
    return render(request, template, context, page=page)


def _query(**values: str) -> str:
    encoded = urlencode({k: v for k, v in values.items() if v})
    return "?" + encoded if encoded else ""


def _back(request: Request, page: Page, fallback: str) -> str:
    """Where an action returns: the page it was sent from, when that is one of this sandbox's pages."""
    target = session.current_url(request)
    return target if target.startswith(page.url()) else fallback


async def _checked_form(request: Request) -> dict[str, str]:
    form = await request.form()
    submitted = form.get(session.CSRF_FIELD)
    session.check_csrf(request, submitted if isinstance(submitted, str) else None)
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/s/{sandbox}/dataflows/bulk")
async def bulk_state(request: Request, sandbox: str) -> Response:
    """Enable or disable every checked flow, one ``POST /flows/{id}/action?op=`` each; the notice says how many
    changed and names the ones the API refused."""
    form = await request.form()
    submitted = form.get(session.CSRF_FIELD)
    session.check_csrf(request, submitted if isinstance(submitted, str) else None)
    op, ids = form.get("op"), [v for v in form.getlist("flow") if isinstance(v, str)][:BULK_LIMIT]
    page = await Page.open(request, sandbox, "dataflows")
    if op not in ("enable", "disable"):
        raise ApiProblem.local(400, "The action must be enable or disable.", title="Bad request")
    refused = []
    for flow_id in ids:
        try:
            await page.api.call("POST", f"{flow_path(flow_id)}/action", params={"op": op})
        except ApiProblem as problem:
            if problem.status == 401:
                raise
            refused.append(f"{flow_id} ({problem.message})")
    done = f"{op.capitalize()}d {len(ids) - len(refused)} of {len(ids)} dataflows."
    notice = done + (" Refused: " + "; ".join(refused) if refused else "") if ids else "No dataflow was checked."
    return redirect(page.url("dataflows") + "?" + urlencode({"bulk": notice}), request)


@router.post("/s/{sandbox}/dataflows/{flow_id}/run")
async def run_now(request: Request, sandbox: str, flow_id: str) -> Response:
    """``POST /runs``; back to the page it came from, with a notice linking to the run."""
    await _checked_form(request)
    page = await Page.open(request, sandbox, "dataflows")
    created = await page.api.call("POST", f"{FLOW}/runs", json_body={"flowId": flow_id})
    back = _back(request, page, page.url("dataflows"))
    joiner = "&" if "?" in back else "?"
    return redirect(back + joiner + "started=" + quote(str(created["id"]), safe=""), request)


@router.post("/s/{sandbox}/dataflows/{flow_id}/state")
async def set_state(request: Request, sandbox: str, flow_id: str) -> Response:
    """``POST /flows/{id}/action?op=enable|disable``."""
    form = await _checked_form(request)
    op = form.get("op", "")
    page = await Page.open(request, sandbox, "dataflows")
    if op not in ("enable", "disable"):
        raise ApiProblem.local(400, "The action must be enable or disable.", title="Bad request")
    await page.api.call("POST", f"{flow_path(flow_id)}/action", params={"op": op})
    return redirect(_back(request, page, page.url("dataflows")), request)


@router.get("/s/{sandbox}/dataflows/{flow_id}/delete")
async def delete_confirm(request: Request, sandbox: str, flow_id: str) -> Response:
    """The confirm page (what the ``<dialog>`` shows with JavaScript)."""
    page = await Page.open(request, sandbox, "dataflows")
    flow = (await page.api.call("GET", flow_path(flow_id)))["items"][0]
    return render(request, "dataflows/delete.html", {"flow": flow}, page=page)


@router.post("/s/{sandbox}/dataflows/{flow_id}/delete")
async def delete(request: Request, sandbox: str, flow_id: str) -> Response:
    await _checked_form(request)
    page = await Page.open(request, sandbox, "dataflows")
    flow = (await page.api.call("GET", flow_path(flow_id)))["items"][0]
    try:
        await page.api.call("DELETE", flow_path(flow_id))
    except ApiProblem as problem:
        if problem.status == 401:
            raise
        return render(
            request, "dataflows/delete.html", {"flow": flow, "problem": problem}, status=problem.status, page=page
        )
    return redirect(page.url("dataflows") + "?" + urlencode({"deleted": str(flow.get("name") or flow_id)}), request)


# --------------------------------------------------------------------------------------------- activity
def _kpis(runs: list[dict[str, Any]]) -> dict[str, Any]:
    counts = [counts_of(r) for r in runs]
    speeds = [c.average_rate() for c in counts if c.completed and c.started and c.read]
    return {
        "ingested": sum(c.written for c in counts),
        "failed_records": sum(c.failed for c in counts),
        "deleted": sum(c.deleted for c in counts),
        "runs": len(runs),
        "failed_runs": sum(1 for r in runs if run_status(r).code == "failed"),
        "median_rate": statistics.median([s for s in speeds if s is not None]) if speeds else None,
    }


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    counts = counts_of(run)
    window = run.get("windowExtensions") or {}
    return {
        "run": run,
        "status": run_status(run),
        "counts": counts,
        "started": utc_iso(counts.started or run.get("createdAt")),
        "window": (utc_iso(window.get("windowStart")), utc_iso(window.get("windowEnd"))),
        "duration": duration_words(counts.elapsed_ms() if counts.started else None),
        "rate": counts.average_rate() if counts.completed else None,
        "kind": str(
            (((run.get("metrics") or {}).get("statusSummary") or {}).get("extensions") or {}).get("type") or ""
        ),
    }


@router.get("/s/{sandbox}/dataflows/{flow_id}")
async def activity(
    request: Request,
    sandbox: str,
    flow_id: str,
    within: str = Query("24h", alias="range"),
    cursor: str = "",
    started: str = "",
    saved: str = "",
) -> Response:
    page = await Page.open(request, sandbox, "dataflows")
    flow = (await page.api.call("GET", flow_path(flow_id)))["items"][0]
    within = within if within in RANGES else "24h"
    span = RANGES[within]
    since = int(time.time() * 1000) - span * 1000
    in_range = await _recent_runs(page, since, flow_id)
    bars = [
        RunBar(
            utc_iso(counts_of(r).started or r.get("createdAt")).replace("T", " ").rstrip("Z"),
            counts_of(r).written,
            counts_of(r).failed,
            run_status(r).code == "failed",
        )
        for r in in_range
        if run_status(r).final
    ]
    params = [("property", f"flowId=={flow_id}"), ("orderby", "-createdAt"), ("limit", str(RUNS_PAGE))]
    if cursor:
        params.append(("continuationToken", cursor))
    listing = await page.api.call("GET", f"{FLOW}/runs", params=params)
    token = next_token(listing)
    sources = await _by_ids(page, "sourceConnections", list(flow.get("sourceConnectionIds") or []))
    targets = await _by_ids(page, "targetConnections", list(flow.get("targetConnectionIds") or []))
    source = next(iter(sources.values()), None)
    target = next(iter(targets.values()), None)
    mapping = next(
        (t.get("params") or {} for t in flow.get("transformations") or [] if str(t.get("name")).lower() == "mapping"),
        {},
    )
    enabled = flow.get("state") == "enabled"
    upcoming = next_window(flow.get("scheduleParams")) if enabled else None
    base = page.url(f"dataflows/{quote(flow_id, safe='')}")
    context = {
        "flow": flow,
        "range": within,
        "ranges": list(RANGES),
        "base": base,
        "kpis": _kpis(in_range),
        "chart": records_per_run(bars, prefix="flow-runs"),
        "runs": [run_row(r) for r in listing.get("items", [])],
        "next_url": base + _query(range=within, cursor=token) if token else "",
        "cursor": cursor,
        "source": source,
        "target": target,
        "table": _table_of(source),
        "dataset_id": str(((target or {}).get("params") or {}).get("dataSetId") or ""),
        "write_mode": str(((target or {}).get("params") or {}).get("writeMode") or ""),
        "mapping": mapping,
        "enabled": enabled,
        "schedule": schedule_words(flow.get("scheduleParams")),
        "next": utc_iso(upcoming * 1000) if upcoming else "",
        "started": started,
        "saved": saved,
    }
    return render(request, "dataflows/activity.html", context, page=page)
