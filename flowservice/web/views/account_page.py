"""An account's page: its dataflows and the datasets they fill, *edit* (name, description, non-secret params,
secrets replaced but never shown) as JSON Patch under ``If-Match``, test, and delete (blocked while source
connections use it, with the dataflows named).

The edit form carries the etag and the values the user saw. A stale etag is the API's 412: the page then
reads the account again and shows, field by field, what changed elsewhere beside the user's edit, and
overwrites nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from flowservice.web import session
from flowservice.web.client import FLOW, ApiClient, ApiProblem
from flowservice.web.forms import AuthForm, auth_forms, pick
from flowservice.web.pages import Page, redirect, render
from flowservice.web.views.datasets import CATALOG
from flowservice.web.views.sources import title_of

router = APIRouter()
MASK = "********"


def _q(value: str) -> str:
    return quote(value, safe="")


def _pointer(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Change:
    field: str
    label: str
    seen: str
    now: str
    mine: str

    @property
    def elsewhere(self) -> bool:
        return self.now != self.seen


async def _account(page: Page, conn: str) -> tuple[dict[str, Any], dict[str, Any], AuthForm | None]:
    """The connection's document, its spec, and the auth form of its auth type."""
    doc: dict[str, Any] = (await page.api.call("GET", f"{FLOW}/connections/{_q(conn)}")).get("items", [{}])[0]
    spec_id = str((doc.get("connectionSpec") or {}).get("id") or "")
    specs = (await page.api.call("GET", f"{FLOW}/connectionSpecs/{_q(spec_id)}")).get("items") or [{}]
    spec: dict[str, Any] = specs[0]
    form = pick(auth_forms(spec), str((doc.get("auth") or {}).get("specName") or ""))
    return doc, spec, form


async def _users(api: ApiClient, conn: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The dataflows reading this account, the datasets they write, and its source connections without a flow."""
    flows = (
        await api.call(
            "GET",
            f"{FLOW}/flows",
            params=[
                ("property", f"inheritedAttributes.sourceConnections[].baseConnection.id=={conn}"),
                ("limit", "1000"),
            ],
        )
    ).get("items", [])
    sources = (
        await api.call(
            "GET", f"{FLOW}/sourceConnections", params=[("property", f"baseConnectionId=={conn}"), ("limit", "1000")]
        )
    ).get("items", [])
    used = {s for f in flows for s in f.get("sourceConnectionIds") or []}
    idle = [s for s in sources if s["id"] not in used]
    target_ids = sorted({t for f in flows for t in f.get("targetConnectionIds") or []})
    datasets: list[dict[str, Any]] = []
    if target_ids:
        targets = await api.call(
            "GET", f"{FLOW}/targetConnections", params=[("property", "id==" + ",".join(target_ids)), ("limit", "1000")]
        )
        named = {str((t.get("params") or {}).get("dataSetId") or "") for t in targets.get("items", [])}
        for dataset_id in sorted(named - {""}):
            try:
                answer = await api.call("GET", f"{CATALOG}/dataSets/{_q(dataset_id)}")
            except ApiProblem as problem:
                if problem.status != 404:
                    raise
                continue
            datasets.append({"id": dataset_id, **answer.get(dataset_id, {})})
    return flows, datasets, idle


def _fields(doc: dict[str, Any], form: AuthForm | None) -> list[dict[str, Any]]:
    params = (doc.get("auth") or {}).get("params") or {}
    if form is None:
        return []
    return [
        {
            "name": f.name,
            "label": f.label,
            "secret": f.secret,
            "value": "" if f.secret else str(params.get(f.name) or ""),
            "set": params.get(f.name) == MASK,
            "description": f.description,
            "input_type": "password" if f.secret else ("number" if f.input_type == "number" else "text"),
        }
        for f in form.fields
    ]


async def _page_context(page: Page, conn: str) -> dict[str, Any]:
    doc, spec, form = await _account(page, conn)
    flows, datasets, idle = await _users(page.api, conn)
    return {
        "doc": doc,
        "conn": conn,
        "source": title_of(spec),
        "fields": _fields(doc, form),
        "flows": flows,
        "datasets": datasets,
        "idle_sources": idle,
        "blocked": bool(flows or idle),
    }


@router.get("/s/{sandbox}/accounts/{conn}")
async def account(request: Request, sandbox: str, conn: str, saved: str = "") -> Response:
    page = await Page.open(request, sandbox, "accounts")
    context = await _page_context(page, conn)
    context["saved"] = saved
    return render(request, "accounts/page.html", context, page=page)


def _submitted(raw: Any) -> dict[str, str]:
    return {k: str(v) for k, v in raw.items() if isinstance(v, str)}


def patch_of(fields: list[dict[str, Any]], submitted: dict[str, str]) -> list[dict[str, Any]]:
    """JSON Patch operations for what the form changes against the values it showed (``seen.*``); a secret
    is sent only when a new one was typed."""
    ops: list[dict[str, Any]] = []
    for name in ("name", "description"):
        value = submitted.get(name, "").strip()
        if value != submitted.get("seen." + name, ""):
            ops.append({"op": "add", "path": "/" + name, "value": value})
    for field in fields:
        key = "p." + field["name"]
        value = submitted.get(key, "")
        if field["secret"]:
            if value:
                ops.append({"op": "add", "path": "/auth/params/" + _pointer(field["name"]), "value": value})
            continue
        value = value.strip()
        if value != submitted.get("seen." + key, ""):
            ops.append({"op": "add", "path": "/auth/params/" + _pointer(field["name"]), "value": value})
    return ops


def changes_between(fields: list[dict[str, Any]], submitted: dict[str, str], current: dict[str, Any]) -> list[Change]:
    """Each field that changed elsewhere (its value now differs from the one the form showed) or that the user
    edited: the two sides of the conflict."""
    params = (current.get("auth") or {}).get("params") or {}
    rows = [
        ("name", "Account name", str(current.get("name") or "")),
        ("description", "Description", str(current.get("description") or "")),
    ]
    rows += [("p." + f["name"], f["label"], str(params.get(f["name"]) or "")) for f in fields if not f["secret"]]
    found = []
    for key, label, now in rows:
        seen = submitted.get("seen." + key, "")
        mine = submitted.get(key, "").strip()
        if now != seen or mine != seen:
            found.append(Change(key, label, seen, now, mine))
    return found


@router.post("/s/{sandbox}/accounts/{conn}/edit")
async def edit(request: Request, sandbox: str, conn: str) -> Response:
    submitted = _submitted(await request.form())
    session.check_csrf(request, submitted.get(session.CSRF_FIELD))
    page = await Page.open(request, sandbox, "accounts")
    doc, _spec, form = await _account(page, conn)
    fields = _fields(doc, form)
    ops = patch_of(fields, submitted)
    here = page.url(f"accounts/{_q(conn)}")
    if not ops:
        return redirect(here + "?saved=nothing")
    try:
        await page.api.call("PATCH", f"{FLOW}/connections/{_q(conn)}", json_body=ops, etag=submitted.get("etag", ""))
    except ApiProblem as problem:
        if problem.status == 401:
            raise
        context = await _page_context(page, conn)
        if problem.status == 412:
            context.update(changes=changes_between(fields, submitted, context["doc"]), problem=problem, mine=submitted)
            return render(request, "accounts/conflict.html", context, status=412, page=page)
        context.update(problem=problem, mine=submitted)
        return render(request, "accounts/page.html", context, status=problem.status, page=page)
    return redirect(here + "?saved=1")
