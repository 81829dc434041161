"""Monitoring across dataflows: tiles (records ingested, records failed, failed dataflows), records per hour
(per day over 30 days) as an SVG chart, and a drill-down sources → dataflows → runs, all from ``GET /runs``
over the range (``metrics.durationSummary.startedAtUTC>=…``), ``GET /flows`` and ``GET /connectionSpecs``.

The runs are read page after page up to ``MAX_RUNS``; beyond, the page says the numbers cover only those.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from flowservice.web.client import FLOW, ApiClient
from flowservice.web.pages import Page, render
from flowservice.web.svg_bars import Bucket, bar_chart
from flowservice.web.views.sources import title_of

router = APIRouter()
RANGES = {"24h": (24 * 3600, 3600, "hour"), "7d": (7 * 86400, 3600, "hour"), "30d": (30 * 86400, 86400, "day")}
"""Range → (span, bucket, bucket's name), in seconds."""
RUN_PAGE = 500
MAX_RUNS = 10_000
UNKNOWN_SOURCE = "unknown source"


@dataclass
class Totals:
    ingested: int = 0
    failed: int = 0
    runs: int = 0
    failed_runs: int = 0
    flows: set[str] = field(default_factory=set)
    failed_flows: set[str] = field(default_factory=set)

    def add(self, run: dict[str, Any]) -> None:
        records = (run.get("metrics") or {}).get("recordSummary") or {}
        self.ingested += int(records.get("outputRecordCount") or 0)
        self.failed += int(records.get("failedRecordCount") or 0)
        self.runs += 1
        flow = str(run.get("flowId") or "")
        self.flows.add(flow)
        if status_of(run) == "failed":
            self.failed_runs += 1
            self.failed_flows.add(flow)


def status_of(run: dict[str, Any]) -> str:
    return str(((run.get("metrics") or {}).get("statusSummary") or {}).get("status") or "")


def started_of(run: dict[str, Any]) -> int:
    return int(((run.get("metrics") or {}).get("durationSummary") or {}).get("startedAtUTC") or 0)


async def runs_since(api: ApiClient, since_ms: int) -> tuple[list[dict[str, Any]], bool]:
    """The runs started at or after ``since_ms``, and whether ``MAX_RUNS`` cut them short."""
    params = [("property", f"metrics.durationSummary.startedAtUTC>={since_ms}"), ("limit", str(RUN_PAGE))]
    runs: list[dict[str, Any]] = []
    token = ""
    while len(runs) < MAX_RUNS:
        answer = await api.call(
            "GET", f"{FLOW}/runs", params=params + ([("continuationToken", token)] if token else [])
        )
        runs += answer.get("items") or []
        href = ((answer.get("_links") or {}).get("next") or {}).get("href", "")
        token = (parse_qs(urlsplit(href).query).get("continuationToken") or [""])[0]
        if not token:
            return runs, False
    return runs[:MAX_RUNS], True


def buckets(runs: Iterable[dict[str, Any]], since_ms: int, now_ms: int, step_s: int) -> list[Bucket]:
    """Records ingested and failed per bucket of ``step_s`` seconds (UTC-aligned), from ``since_ms`` to now."""
    step = step_s * 1000
    first = since_ms // step * step
    count = max(1, -(-(now_ms - first) // step))
    ingested, failed = [0] * count, [0] * count
    for run in runs:
        index = (started_of(run) - first) // step
        if 0 <= index < count:
            records = (run.get("metrics") or {}).get("recordSummary") or {}
            ingested[index] += int(records.get("outputRecordCount") or 0)
            failed[index] += int(records.get("failedRecordCount") or 0)
    shape = "%Y-%m-%d %H:00" if step_s < 86400 else "%Y-%m-%d"
    return [
        Bucket(time.strftime(shape, time.gmtime((first + i * step) / 1000)), ingested[i], failed[i])
        for i in range(count)
    ]


def source_of(flow: dict[str, Any]) -> str:
    sources = (flow.get("inheritedAttributes") or {}).get("sourceConnections") or [{}]
    return str((sources[0].get("connectionSpec") or {}).get("id") or "")


@router.get("/s/{sandbox}/monitoring")
async def monitoring(
    request: Request,
    sandbox: str,
    window: str = Query("24h", alias="range"),
    source: str = "",
    flow: str = "",
    failed: str = "",
) -> Response:
    page = await Page.open(request, sandbox, "monitoring")
    span = window if window in RANGES else "24h"
    seconds, step, unit = RANGES[span]
    now_ms = int(time.time() * 1000)
    since_ms = now_ms - seconds * 1000
    runs, cut = await runs_since(page.api, since_ms)
    flows = {
        f["id"]: f for f in (await page.api.call("GET", f"{FLOW}/flows", params={"limit": "1000"})).get("items", [])
    }
    specs = {s["id"]: title_of(s) for s in (await page.api.call("GET", f"{FLOW}/connectionSpecs")).get("items", [])}
    only_failed = failed == "1"

    totals = Totals()
    by_source: dict[str, Totals] = {}
    by_flow: dict[str, Totals] = {}
    for run in runs:
        totals.add(run)
        flow_id = str(run.get("flowId") or "")
        spec = source_of(flows.get(flow_id, {}))
        by_source.setdefault(spec, Totals()).add(run)
        by_flow.setdefault(flow_id, Totals()).add(run)

    def link(over: str = span, **query: str) -> str:
        shown = {"range": over, **{k: v for k, v in query.items() if v}}
        return page.url("monitoring") + "?" + urlencode(shown)

    sources = [
        {"id": spec, "name": specs.get(spec, UNKNOWN_SOURCE), "totals": t, "href": link(source=spec or "-")}
        for spec, t in sorted(by_source.items(), key=lambda kv: specs.get(kv[0], UNKNOWN_SOURCE))
        if not only_failed or t.failed_runs
    ]
    picked_source = "" if source == "-" else source
    dataflows = []
    if source:
        for flow_id, t in by_flow.items():
            doc = flows.get(flow_id, {})
            if source_of(doc) != picked_source or (only_failed and not t.failed_runs):
                continue
            dataflows.append(
                {
                    "id": flow_id,
                    "name": doc.get("name") or flow_id,
                    "totals": t,
                    "href": link(source=source, flow=flow_id, failed=failed),
                }
            )
        dataflows.sort(key=lambda d: str(d["name"]))
    flow_runs = []
    if flow:
        flow_runs = sorted(
            (r for r in runs if r.get("flowId") == flow and (not only_failed or status_of(r) == "failed")),
            key=started_of,
            reverse=True,
        )
    series = buckets(runs, since_ms, now_ms, step)
    crumbs: list[tuple[str, str | None]] = [("Monitoring", link())]
    if source:
        crumbs.append((specs.get(picked_source, UNKNOWN_SOURCE), link(source=source, failed=failed)))
    if flow:
        crumbs.append((str(flows.get(flow, {}).get("name") or flow), None))
    context = {
        "span": span,
        "ranges": [(r, link(r, source=source, flow=flow, failed=failed)) for r in RANGES],
        "totals": totals,
        "cut": cut,
        "max_runs": MAX_RUNS,
        "chart": bar_chart(series, unit=unit, span=f"the last {span}"),
        "chart_buckets": series,
        "unit": unit,
        "sources": sources,
        "source": source,
        "source_name": specs.get(picked_source, UNKNOWN_SOURCE),
        "dataflows": dataflows,
        "flow": flow,
        "flow_name": str(flows.get(flow, {}).get("name") or flow),
        "flow_runs": flow_runs,
        "only_failed": only_failed,
        "failed_toggle": link(source=source, flow=flow, failed="" if only_failed else "1"),
        "crumbs": crumbs,
        "status_of": status_of,
        "started_of": started_of,
    }
    return render(request, "monitoring/page.html", context, page=page)
