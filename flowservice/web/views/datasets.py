"""Datasets: the list (rows, Delta version, last batch, the flows writing to each) and a dataset's page with
its landed rows (``GET /export/datasets/{id}/preview``), its schema, its batches linked to their runs, and the
commands that query it outside the UI.

Which flows write to a dataset is two listings, whatever the number of datasets: the target connections
naming them (``property=params.dataSetId==a,b``), then the flows using those (``targetConnectionIds[]==…``).
"""

from __future__ import annotations

import shlex
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from flowservice.web.client import FLOW, ApiClient
from flowservice.web.pages import Page, render

router = APIRouter()
CATALOG = "/data/foundation/catalog"
EXPORT = "/data/foundation/export"
PAGE_SIZE = 50
TABS = ("preview", "schema", "batches")
CHANGE_COLUMNS = ("_change_type", "_change_time")


def _q(value: str) -> str:
    return quote(value, safe="")


async def writers(api: ApiClient, dataset_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The flows writing to each dataset (by dataset id), from two listings."""
    found: dict[str, list[dict[str, Any]]] = {d: [] for d in dataset_ids}
    if not dataset_ids:
        return found
    targets = await api.call(
        "GET",
        f"{FLOW}/targetConnections",
        params=[("property", "params.dataSetId==" + ",".join(dataset_ids)), ("limit", "1000")],
    )
    dataset_of = {t["id"]: (t.get("params") or {}).get("dataSetId") for t in targets.get("items", [])}
    if not dataset_of:
        return found
    flows = await api.call(
        "GET",
        f"{FLOW}/flows",
        params=[("property", "targetConnectionIds[]==" + ",".join(dataset_of)), ("limit", "1000")],
    )
    for flow in flows.get("items", []):
        for target in flow.get("targetConnectionIds") or []:
            dataset = dataset_of.get(target)
            if dataset in found:
                found[dataset].append(flow)
    return found


def run_of(batch: dict[str, Any]) -> str:
    """The run that wrote a batch (its ``flowRun`` related object)."""
    return next((str(o["id"]) for o in batch.get("relatedObjects") or [] if o.get("type") == "flowRun"), "")


def flow_of(batch: dict[str, Any]) -> str:
    return next((str(o["id"]) for o in batch.get("relatedObjects") or [] if o.get("type") == "flow"), "")


@router.get("/s/{sandbox}/datasets")
async def datasets(request: Request, sandbox: str, start: int = 0) -> Response:
    page = await Page.open(request, sandbox, "datasets")
    start = max(0, start)
    listing = await page.api.call(
        "GET",
        f"{CATALOG}/dataSets",
        params=[("limit", str(PAGE_SIZE + 1)), ("start", str(start)), ("orderBy", "desc:created")],
    )
    docs = [{"id": key, **value} for key, value in listing.items()]
    more = len(docs) > PAGE_SIZE
    docs = docs[:PAGE_SIZE]
    flows = await writers(page.api, [d["id"] for d in docs])
    rows = []
    for doc in docs:
        detail = (await page.api.call("GET", f"{CATALOG}/dataSets/{_q(doc['id'])}")).get(doc["id"], doc)
        batches = await page.api.call(
            "GET", f"{CATALOG}/batches", params=[("dataSet", doc["id"]), ("limit", "1"), ("orderBy", "desc:created")]
        )
        last = next(({"id": k, **v} for k, v in batches.items()), None)
        rows.append({"doc": detail, "lake": detail.get("lake") or {}, "last": last, "flows": flows[doc["id"]]})
    context = {
        "rows": rows,
        "start": start,
        "next_start": start + PAGE_SIZE if more else None,
        "prev_start": max(0, start - PAGE_SIZE) if start else None,
        "run_of": run_of,
    }
    return render(request, "datasets/list.html", context, page=page)


def query_commands(page: Page, name: str, path: str) -> dict[str, str]:
    """A ``flowservice query`` command (run where the server's data dir is) and a DuckDB snippet."""
    sql = 'SELECT * FROM "' + name.replace('"', '""') + '" LIMIT 10'  # noqa: S608 - shown, not run; a quoted name
    org = page.api.session.org if page.api.session else ""
    command = f"flowservice query {shlex.quote(sql)} --org {shlex.quote(org)} --sandbox {shlex.quote(page.sandbox)}"
    duckdb = f"INSTALL delta; LOAD delta;\nSELECT * FROM delta_scan('{path_in_lake(path)}') LIMIT 10;"
    return {"command": command, "duckdb": duckdb}


def path_in_lake(path: str) -> str:
    """The table's location under the server's lake root (``FLOWSERVICE_LAKE_ROOT``, ``<data dir>/lake`` by
    default), which the UI, a client of the API, does not know."""
    return "$FLOWSERVICE_LAKE_ROOT/" + path.replace("'", "''")


@router.get("/s/{sandbox}/datasets/{dataset}")
async def dataset(
    request: Request, sandbox: str, dataset: str, tab: str = "preview", col: list[str] = Query(default=[])
) -> Response:
    page = await Page.open(request, sandbox, "datasets")
    tab = tab if tab in TABS else "preview"
    answer = await page.api.call("GET", f"{CATALOG}/dataSets/{_q(dataset)}")
    doc = {"id": dataset, **answer.get(dataset, {})}
    lake = doc.get("lake") or {}
    flows = (await writers(page.api, [dataset]))[dataset]
    context: dict[str, Any] = {
        "doc": doc,
        "lake": lake,
        "flows": flows,
        "tab": tab,
        "tabs": [(t, page.url(f"datasets/{_q(dataset)}") + "?" + urlencode({"tab": t})) for t in TABS],
        "query": query_commands(page, str(doc.get("name") or dataset), str(lake.get("path") or "")),
        "change_columns": CHANGE_COLUMNS,
        "run_of": run_of,
        "flow_of": flow_of,
    }
    if tab == "preview":
        preview = await page.api.call("GET", f"{EXPORT}/datasets/{_q(dataset)}/preview")
        rows = list(preview.get("data") or [])
        columns = [c["name"] for c in preview.get("columns") or []] or (list(rows[0]) if rows else [])
        columns = [c for c in CHANGE_COLUMNS if c in columns] + [c for c in columns if c not in CHANGE_COLUMNS]
        picked = [c for c in col if c in columns]
        context.update(
            rows=rows,
            columns=columns,
            shown=picked or columns,
            picked=set(picked),
            truncated=bool((preview.get("_page") or {}).get("truncated")),
        )
    elif tab == "batches":
        batches = await page.api.call(
            "GET", f"{CATALOG}/batches", params=[("dataSet", dataset), ("limit", "100"), ("orderBy", "desc:created")]
        )
        context["batches"] = [{"id": k, **v} for k, v in batches.items()]
    return render(request, "datasets/detail.html", context, page=page)
