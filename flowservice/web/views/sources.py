"""Sources: the catalog (``GET /connectionSpecs`` with account counts) and *connect account*, a form generated
from the spec's auth schemas, then a checklist: create → test → explore.

No duplicates: after the create, the connection's id stays in the URL (``?conn=``); a retry of a failed test
updates that connection (JSON Patch under ``If-Match``) instead of creating another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from flowservice.web import session
from flowservice.web.client import FLOW, ApiClient, ApiProblem
from flowservice.web.forms import AuthForm, auth_forms, hint_for, params_from, pick
from flowservice.web.pages import Page, redirect, render

router = APIRouter()


def is_source(spec: dict[str, Any]) -> bool:
    attributes = spec.get("attributes") or {}
    return bool(spec.get("sourceSpec")) or bool(attributes.get("isSource"))


def category_of(spec: dict[str, Any]) -> str:
    return str((spec.get("attributes") or {}).get("category") or "Other")


def title_of(spec: dict[str, Any]) -> str:
    return str((spec.get("attributes") or {}).get("connectorName") or spec.get("name") or spec.get("id"))


async def _count(api: ApiClient, path: str, prop: str) -> int | None:
    try:
        answer = await api.call("GET", path, params=[("property", prop), ("count", "true")])
    except ApiProblem as problem:
        if problem.status == 401:
            raise
        return None
    return int(answer.get("count", 0))


@router.get("/s/{sandbox}/sources")
async def catalog(request: Request, sandbox: str, q: str = "", category: str = "") -> Response:
    page = await Page.open(request, sandbox, "sources")
    specs = [s for s in (await page.api.call("GET", f"{FLOW}/connectionSpecs")).get("items", []) if is_source(s)]
    categories = sorted({category_of(s) for s in specs})
    shown = [
        s
        for s in specs
        if (not category or category_of(s) == category)
        and (not q or q.lower() in f"{title_of(s)} {s.get('name')} {category_of(s)}".lower())
    ]
    # counted one after the other: the calls are recorded in order, and there are few specs
    cards = []
    for spec in shown:
        accounts = await _count(page.api, f"{FLOW}/connections", f"connectionSpec.id=={spec['id']}")
        cards.append(
            {
                "spec": spec,
                "title": title_of(spec),
                "category": category_of(spec),
                "auth": [a.label for a in auth_forms(spec)],
                "accounts": accounts,
            }
        )
    context = {"cards": cards, "categories": categories, "q": q, "category": category, "total": len(specs)}
    return render(request, "sources/catalog.html", context, page=page)


# --------------------------------------------------------------------------------------------- connect
@dataclass
class Step:
    label: str
    state: str
    """``done``, ``failed`` or ``pending``."""
    detail: str = ""
    problem: ApiProblem | None = None
    hint: str | None = None


async def _spec(page: Page, spec_id: str) -> dict[str, Any]:
    items = (await page.api.call("GET", f"{FLOW}/connectionSpecs/{quote(spec_id, safe='')}")).get("items") or []
    if not items:
        raise ApiProblem.local(404, f"The connection spec {spec_id} is not found.")
    spec: dict[str, Any] = items[0]
    return spec


def _connect_url(page: Page, spec_id: str, **query: str) -> str:
    rest = f"sources/{quote(spec_id, safe='')}/connect"
    shown = {k: v for k, v in query.items() if v}
    return page.url(rest) + ("?" + urlencode(shown) if shown else "")


@router.get("/s/{sandbox}/sources/{spec_id}/connect")
async def connect_form(request: Request, sandbox: str, spec_id: str, auth: str = "", conn: str = "") -> Response:
    page = await Page.open(request, sandbox, "sources")
    spec = await _spec(page, spec_id)
    forms = auth_forms(spec)
    steps: list[Step] = []
    values: dict[str, str] = {}
    connection: dict[str, Any] | None = None
    tables = None
    if conn:
        connection = await page.api.call("GET", f"{FLOW}/connections/{quote(conn, safe='')}")
        doc = (connection.get("items") or [{}])[0]
        steps, tables = await _checklist(page.api, conn)
        stored_auth = doc.get("auth") or {}
        auth = auth or str(stored_auth.get("specName") or "")
        values = {"name": str(doc.get("name") or ""), "description": str(doc.get("description") or "")}
        values.update({"p." + k: str(v) for k, v in (stored_auth.get("params") or {}).items() if v != "********"})
    form = pick(forms, auth)
    ok = bool(steps) and all(s.state == "done" for s in steps)
    context = {
        "spec": spec,
        "title": title_of(spec),
        "forms": forms,
        "form": form,
        "tabs": [(f, _connect_url(page, spec_id, auth=f.type, conn=conn)) for f in forms],
        "steps": steps,
        "ok": ok,
        "conn": conn,
        "values": values,
        "tables": tables,
        "action": _connect_url(page, spec_id, auth=form.type if form else "", conn=conn),
    }
    return render(request, "sources/connect.html", context, page=page)


async def _checklist(api: ApiClient, conn: str) -> tuple[list[Step], int | None]:
    steps = [Step("Account created", "done", f"created {conn}")]
    path = f"{FLOW}/connections/{quote(conn, safe='')}"
    try:
        tested = await api.call("GET", f"{path}/test")
    except ApiProblem as problem:
        if problem.status == 401:
            raise
        tested = {"result": False, "reason": problem.message, "problem": problem}
    if not tested.get("result"):  # the API answers 200 {"result": false, "reason": …} for refused credentials
        reason = str(tested.get("reason") or "The source refused the connection.")
        steps.append(Step("Credentials tested", "failed", reason, tested.get("problem"), hint_for(reason)))
        steps.append(Step("Tables explored", "pending", "waits for the credentials"))
        return steps, None
    steps.append(Step("Credentials tested", "done", "credentials OK"))
    try:
        tables = await api.call("GET", f"{path}/explore", params={"objectType": "root"})
    except ApiProblem as problem:
        if problem.status == 401:
            raise
        steps.append(Step("Tables explored", "failed", problem.message, problem, hint_for(problem.message)))
        return steps, None
    count = len(tables) if isinstance(tables, list) else 0
    steps.append(Step("Tables explored", "done", f"{count} tables found in {api.calls[-1].ms:.0f} ms"))
    return steps, count


@router.post("/s/{sandbox}/sources/{spec_id}/connect")
async def connect(request: Request, sandbox: str, spec_id: str) -> Response:
    raw = await request.form()
    fields = {k: str(v) for k, v in raw.items() if isinstance(v, str)}
    session.check_csrf(request, fields.get(session.CSRF_FIELD))
    page = await Page.open(request, sandbox, "sources")
    spec = await _spec(page, spec_id)
    forms = auth_forms(spec)
    form = pick(forms, fields.get("auth"))
    conn = fields.get("conn", "").strip()
    body = _body(spec, form, fields)
    try:
        if conn:  # a retry: the same connection, updated
            path = f"{FLOW}/connections/{quote(conn, safe='')}"
            current = (await page.api.call("GET", path)).get("items") or [{}]
            etag = str(current[0].get("etag") or "")
            ops = [{"op": "replace", "path": f"/{k}", "value": body[k]} for k in ("name", "description", "auth")]
            await page.api.call("PATCH", path, json_body=ops, etag=etag)
        else:
            created = await page.api.call("POST", f"{FLOW}/connections", json_body=body)
            conn = str(created["id"])
    except ApiProblem as problem:
        if problem.status == 401:
            raise
        values = {k: v for k, v in fields.items() if not _secret(form, k)}
        context = {
            "spec": spec,
            "title": title_of(spec),
            "forms": forms,
            "form": form,
            "tabs": [(f, _connect_url(page, spec_id, auth=f.type, conn=conn)) for f in forms],
            "steps": [],
            "ok": False,
            "conn": conn,
            "values": values,
            "tables": None,
            "problem": problem,
            "hint": hint_for(problem.message),
            "action": _connect_url(page, spec_id, auth=form.type if form else "", conn=conn),
        }
        return render(request, "sources/connect.html", context, status=problem.status, page=page)
    return redirect(_connect_url(page, spec_id, auth=form.type if form else "", conn=conn))


def _secret(form: AuthForm | None, key: str) -> bool:
    return form is not None and any(f.secret and key == "p." + f.name for f in form.fields)


def _body(spec: dict[str, Any], form: AuthForm | None, fields: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": fields.get("name", "").strip(),
        "description": fields.get("description", "").strip(),
        "connectionSpec": {"id": spec["id"], "version": str(spec.get("version") or "1.0")},
    }
    if form is not None:
        body["auth"] = {"specName": form.spec_name, "params": params_from(form, fields)}
    return body
