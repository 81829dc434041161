"""The dataflow wizard (S5–S8): details → mapping → schedule → review → a create checklist.

Stateless: the whole draft travels in the query string of each step (``wizard_state.Draft``), and every step is
a GET form that carries it in hidden fields (the mapping step posts, so its rows stay out of URLs, and
redirects to the next step). Create is a POST that runs, per table, the five calls a curl user makes
(sourceConnections → dataSets if new → targetConnections → mappingSets → flows), stopping at the first
failure; what it made goes back in the form (``created``), so a retry reuses it instead of making it twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.datastructures import ImmutableMultiDict, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from flowservice.web import session
from flowservice.web.client import FLOW, ApiClient, ApiProblem
from flowservice.web.pages import Page, redirect, render, security
from flowservice.web.wizard_state import (
    CREATE_STEPS,
    CREATE_TITLES,
    FREQUENCIES,
    KINDS,
    MAX_CSV_BYTES,
    STEP_TITLES,
    STEPS,
    Draft,
    Problems,
    Row,
    check_details,
    check_schedule,
    counters,
    decode_mapping,
    encode_mapping,
    fingerprint,
    interval_minimum,
    mapping_csv,
    next_runs,
    now_minute,
    rows_from_csv,
    rows_from_form,
    schedule_in_words,
    schedule_params,
    start_epoch,
)

router = APIRouter()
CATALOG = "/data/foundation/catalog"
CONVERSION = "/data/foundation/conversion"
PREVIEW_ROWS = 10
EMPTY_ROWS = 2
"""Blank rows at the end of the mapping form, for calculated fields (more after each save)."""


def _multi(request: Request) -> ImmutableMultiDict[str, str]:
    return ImmutableMultiDict(request.query_params.multi_items())


def _values(items: ImmutableMultiDict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in items.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


@dataclass
class Context:
    """What every step shows: the account, the tables' columns, and the draft with its defaults filled."""

    page: Page
    draft: Draft
    account: dict[str, Any]
    columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.page.url("dataflows/new")

    def step_url(self, step: str, draft: Draft | None = None) -> str:
        return f"{self.base}?{(draft or self.draft).query()}&step={step}"


async def _context(page: Page, draft: Draft, *, describe: bool = True) -> Context:
    if not draft.conn or not draft.tables:
        raise ApiProblem.local(
            400, "Pick an account and at least one table first (Accounts → Explore).", title="Nothing to create"
        )
    account = (await page.api.call("GET", f"{FLOW}/connections/{quote(draft.conn, safe='')}")).get("items", [{}])[0]
    ctx = Context(page, _defaults(draft), account)
    if describe:
        for table in draft.tables:
            described = await page.api.call(
                "GET",
                f"{FLOW}/connections/{quote(draft.conn, safe='')}/explore",
                params={"objectType": "table", "object": table},
            )
            ctx.columns[table] = list((described.get("schema") or {}).get("columns") or [])
    return ctx


def _defaults(draft: Draft) -> Draft:
    table = draft.tables[0] if draft.tables else ""
    return replace(
        draft,
        dataset_name=draft.dataset_name or (table if draft.single else ""),
        start=draft.start or now_minute(),
    )


def _date_columns(ctx: Context) -> list[str]:
    """Date/time columns every chosen table has (the delta column candidates), ``modifiedon`` first."""
    sets = [[str(c["name"]) for c in cols if c.get("type") == "date-time"] for cols in ctx.columns.values()]
    common = [n for n in (sets[0] if sets else []) if all(n in s for s in sets)]
    return sorted(common, key=lambda n: (n != "modifiedon", n))


# ------------------------------------------------------------------------------------------------ steps
@router.get("/s/{sandbox}/dataflows/new")
async def step(request: Request, sandbox: str, step: str = "details") -> Response:
    page = await Page.open(request, sandbox, "accounts")
    draft = Draft.read(_values(_multi(request)))
    came_from = request.query_params.get("from", "")
    ctx = await _context(page, draft, describe=step != "details" or came_from == "details")
    step = step if step in STEPS else "details"
    if came_from in STEPS and STEPS.index(step) >= STEPS.index(came_from):  # forward (or staying): check it
        problems = await _check(ctx, came_from)
        if problems:
            return await _render_step(request, ctx, came_from, problems)
    return await _render_step(request, ctx, step, Problems())


async def _check(ctx: Context, step: str) -> Problems:
    if step == "details":
        return check_details(ctx.draft)
    if step == "schedule":
        minimum = interval_minimum(await _schedule_spec(ctx), ctx.draft.frequency)
        problems = check_schedule(ctx.draft, minimum)
        if ctx.draft.delta and ctx.draft.delta not in _date_columns(ctx):
            problems.add("delta", f"'{ctx.draft.delta}' is not a date/time column of every chosen table.")
        return problems
    return Problems()


async def _flow_spec(ctx: Context) -> dict[str, Any]:
    """The flow spec for this account's source (its id, target spec and schedule rules come from the API)."""
    source_spec = (ctx.account.get("connectionSpec") or {}).get("id")
    specs = (await ctx.page.api.call("GET", f"{FLOW}/flowSpecs")).get("items") or []
    for spec in specs:
        if source_spec in (spec.get("sourceConnectionSpecIds") or []):
            found: dict[str, Any] = spec
            return found
    raise ApiProblem.local(400, f"No flow spec reads from connection spec {source_spec}.", title="No flow spec")


async def _schedule_spec(ctx: Context) -> dict[str, Any]:
    spec: dict[str, Any] = (await _flow_spec(ctx)).get("scheduleSpec") or {}
    return spec


async def _render_step(request: Request, ctx: Context, step: str, problems: Problems, **extra: Any) -> Response:
    context: dict[str, Any] = {
        "ctx": ctx,
        "draft": ctx.draft,
        "step": step,
        "steps": [(s, STEP_TITLES[s]) for s in STEPS],
        "problems": problems,
        "account_name": str(ctx.account.get("name") or ctx.draft.conn),
        **extra,
    }
    if step == "details":
        context["datasets"] = await _datasets(ctx) if ctx.draft.single else []
        context["flow_name"] = ctx.draft.flow_name_for(ctx.draft.tables[0], context["account_name"])
    elif step == "mapping":
        if "rows" not in extra:
            context["rows"] = decode_mapping(ctx.draft.mapping, ctx.columns[ctx.draft.tables[0]])
        context["counts"] = counters(context["rows"])
        context["importable"] = await _importable(ctx) if ctx.draft.single else []
        context["kinds"] = KINDS
        context["empty_rows"] = EMPTY_ROWS
    elif step == "schedule":
        context["frequencies"] = FREQUENCIES
        context["date_columns"] = _date_columns(ctx)
        start = start_epoch(ctx.draft.start)
        interval = int(ctx.draft.interval) if ctx.draft.interval.isdigit() else None
        context["runs"] = next_runs(start, ctx.draft.frequency, interval, ctx.draft.backfill) if start else []
    elif step == "review":
        context["summary"] = _summary(ctx)
        context["words"] = schedule_in_words(ctx.draft)
    status = 400 if problems else 200
    return render(request, f"wizard/{step}.html", context, status=status, page=ctx.page)


async def _datasets(ctx: Context) -> list[dict[str, Any]]:
    listing = await ctx.page.api.call("GET", f"{CATALOG}/dataSets", params={"limit": "100", "orderBy": "desc:created"})
    return [{"id": k, **v} for k, v in (listing or {}).items() if isinstance(v, dict)]


def _summary(ctx: Context) -> list[dict[str, Any]]:
    out = []
    for table in ctx.draft.tables:
        columns = ctx.columns.get(table, [])
        rows = decode_mapping(ctx.draft.mapping, columns) if ctx.draft.single else decode_mapping("", columns)
        out.append(
            {
                "table": table,
                "columns": len(columns),
                "flow": ctx.draft.flow_name_for(table, str(ctx.account.get("name") or "")),
                "dataset": ctx.draft.dataset_id
                if ctx.draft.dataset == "existing"
                else ctx.draft.dataset_name_for(table),
                "mapped": sum(1 for r in rows if r.on),
                "expressions": sum(1 for r in rows if r.on and r.kind == "EXPRESSION"),
            }
        )
    return out


# ------------------------------------------------------------------------------------------------ mapping
@router.get("/s/{sandbox}/dataflows/new/mapping.csv")
async def mapping_template(request: Request, sandbox: str) -> Response:
    """The draft's mapping as CSV (``source,destination,sourceType``): a template to edit and import again."""
    page = await Page.open(request, sandbox, "accounts")
    draft = Draft.read(_values(_multi(request)))
    ctx = await _context(page, draft)
    table = draft.tables[0]
    body = mapping_csv(decode_mapping(draft.mapping, ctx.columns[table]))
    disposition = f'attachment; filename="mapping-{re.sub(r"[^A-Za-z0-9_]+", "_", table)[:60]}.csv"'
    return security(Response(body, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition}))


@router.post("/s/{sandbox}/dataflows/new/mapping")
async def mapping(request: Request, sandbox: str) -> Response:
    """The mapping form: Validate and Preview answer on this page; Back and Next carry the mapping on."""
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    session.check_csrf(request, form.get(session.CSRF_FIELD))
    page = await Page.open(request, sandbox, "accounts")
    draft = Draft.read(_values(raw))
    ctx = await _context(page, draft)
    table = draft.tables[0]
    columns = ctx.columns[table]
    count = int(form.get("rows", "0")) if form.get("rows", "0").isdigit() else 0
    rows = rows_from_form(form, min(count, 2000))
    action = form.get("action", "validate")
    if action == "import" and form.get("import_from"):
        rows = await _imported(page, form["import_from"], columns)
    if action == "import_csv":
        upload = raw.get("mapping_csv")
        data = b""
        if isinstance(upload, UploadFile):
            data = await upload.read(MAX_CSV_BYTES + 1)
            await upload.close()
        try:
            rows = decode_mapping(encode_mapping(rows_from_csv(data), columns), columns)
        except ValueError as exc:
            problems = Problems()
            problems.add("mapping_csv", f"The mapping CSV was not imported: {exc}")
            ctx.draft = replace(ctx.draft, mapping=encode_mapping(rows, columns))
            return await _render_step(request, ctx, "mapping", problems, rows=rows)
    ctx.draft = replace(ctx.draft, mapping=encode_mapping(rows, columns))
    if action in ("details", "schedule"):
        return redirect(ctx.step_url(action), request)
    mapped = [r for r in rows if r.on]
    body = {"mappings": [r.api() for r in mapped], "sourceSchema": {"columns": columns}}
    extra: dict[str, Any] = {"rows": rows}
    problems = Problems()
    if not mapped:
        problems.add("mapping", "Map at least one column.")
        return await _render_step(request, ctx, "mapping", problems, **extra)
    validated = await page.api.call("POST", f"{CONVERSION}/mappingSets/validate", json_body=body)
    rows = _with_errors(rows, validated)
    extra.update(rows=rows, validated=validated)
    for index, error in enumerate(validated.get("errors") or []):
        problems.add(f"set-{index}", str(error.get("exception")))
    for row in rows:
        if row.error:
            problems.add(f"row-{row.destination}", f"{row.destination or row.source}: {row.error}")
    if action == "preview" and not problems:
        explored = await page.api.call(
            "GET",
            f"{FLOW}/connections/{quote(draft.conn, safe='')}/explore",
            params={"objectType": "table", "object": table, "preview": "true", "previewCount": str(PREVIEW_ROWS)},
        )
        source_rows = list(explored.get("data") or [])
        asked = {**body, "mappingSet": {"mappings": body["mappings"]}, "data": source_rows}
        del asked["mappings"]
        preview = await page.api.call("POST", f"{CONVERSION}/mappingSets/preview", json_body=asked)
        extra["preview"] = {
            "source_rows": source_rows,
            "source_columns": [r.source for r in mapped if r.kind == "ATTRIBUTE"],
            "mapped": preview.get("data") or [],
            "mapped_columns": [c["name"] for c in (preview.get("outputSchema") or {}).get("columns") or []],
            "errors": {int(e["row"]): e for e in preview.get("errors") or []},
        }
    return await _render_step(request, ctx, "mapping", problems, **extra)


async def _importable(ctx: Context) -> list[dict[str, str]]:
    """Flows whose mapping set can be imported: ``GET /flows`` → each flow's Mapping transformation."""
    listing = await ctx.page.api.call("GET", f"{FLOW}/flows", params={"limit": "50", "orderby": "-createdAt"})
    out = []
    for flow in listing.get("items") or []:
        for t in flow.get("transformations") or []:
            mapping_id = (t.get("params") or {}).get("mappingId") if isinstance(t, dict) else None
            if str(t.get("name", "")).lower() == "mapping" and mapping_id:
                out.append({"flow": str(flow.get("name") or flow.get("id")), "mapping": str(mapping_id)})
    return out


async def _imported(page: Page, mapping_id: str, columns: list[dict[str, Any]]) -> list[Row]:
    """The rows of another flow's mapping set (``GET /mappingSets/{id}``), then this table's unused columns."""
    found = await page.api.call("GET", f"{CONVERSION}/mappingSets/{quote(mapping_id, safe='')}")
    rows = []
    for item in found.get("mappings") or []:
        kind = str(item.get("sourceType") or "ATTRIBUTE").upper()
        source = item.get("source", item.get("sourceAttribute"))
        destination = item.get("destination", item.get("destinationXdmPath"))
        rows.append(Row(kind if kind in KINDS else "ATTRIBUTE", str(source), str(destination)))
    return decode_mapping(encode_mapping(rows, columns), columns)


def _with_errors(rows: list[Row], validated: dict[str, Any]) -> list[Row]:
    answers = iter(validated.get("validationResponse") or [])
    out = []
    for row in rows:
        if not row.on:
            out.append(row)
            continue
        answer: dict[str, Any] = next(answers, {}) or {}
        errors = answer.get("errors") or []
        out.append(replace(row, error="; ".join(str(e.get("exception")) for e in errors)) if errors else row)
    return out


# ------------------------------------------------------------------------------------------------ create
@dataclass
class Check:
    """One call of the checklist, for one table."""

    table: str
    step: str
    state: str = "pending"
    """``done`` (made now), ``kept`` (made by an earlier attempt), ``failed``, ``skipped`` or ``pending``."""
    id: str = ""
    problem: ApiProblem | None = None

    @property
    def title(self) -> str:
        return CREATE_TITLES[self.step]


@router.post("/s/{sandbox}/dataflows/new/create")
async def create(request: Request, sandbox: str) -> Response:
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    session.check_csrf(request, form.get(session.CSRF_FIELD))
    page = await Page.open(request, sandbox, "accounts")
    draft = Draft.read(_values(raw))
    ctx = await _context(page, draft)
    problems = check_details(ctx.draft)
    if problems:
        return await _render_step(request, ctx, "details", problems)
    spec = await _flow_spec(ctx)
    checks: list[Check] = []
    # (table, call) → entry: what this attempt made replaces what an earlier one made for the same call; the
    # rest stays (a call not reached this time may still be reused by the next attempt)
    created = {tuple(c.split("|")[:2]): c for c in ctx.draft.created}
    failed = False
    for table in ctx.draft.tables:
        table_checks, made = await _create_table(ctx, spec, table, stop=failed)
        checks += table_checks
        created.update({tuple(c.split("|")[:2]): c for c in made})
        failed = failed or any(c.state == "failed" for c in table_checks)
    ctx.draft = replace(ctx.draft, created=tuple(created.values()))
    if not failed:
        return redirect(f"{ctx.base}/done?{ctx.draft.query()}", request)
    context = {
        "ctx": ctx,
        "draft": ctx.draft,
        "checks": checks,
        "account_name": str(ctx.account.get("name") or ctx.draft.conn),
        "summary": _summary(ctx),
        "words": schedule_in_words(ctx.draft),
        "steps": [(s, STEP_TITLES[s]) for s in STEPS],
        "step": "review",
        "problems": Problems(),
    }
    status = next((c.problem.status for c in checks if c.problem is not None), 400)
    return render(request, "wizard/review.html", context, status=status, page=page)


async def _create_table(ctx: Context, spec: dict[str, Any], table: str, *, stop: bool) -> tuple[list[Check], list[str]]:
    """The five calls for one table, reusing what an earlier attempt made from the same body."""
    draft, api = ctx.draft, ctx.page.api
    made = draft.made(table)
    checks = [Check(table, s) for s in CREATE_STEPS]
    kept: list[str] = []
    ids: dict[str, str] = {}
    source_spec = str((ctx.account.get("connectionSpec") or {}).get("id") or "")
    target_spec = str((spec.get("targetConnectionSpecIds") or [""])[0])
    account_name = str(ctx.account.get("name") or "")
    for check in checks:
        if stop:
            break
        names = (source_spec, target_spec, account_name)
        body = _body(check.step, draft, table, ids, names, spec, ctx.columns.get(table, []))
        if body is None:  # an existing dataset: nothing to create
            check.state, check.id = "skipped", draft.dataset_id
            ids[check.step] = draft.dataset_id
            continue
        digest = fingerprint(body)
        earlier = made.get(check.step)
        if earlier and earlier[1] == digest:
            check.state, check.id = "kept", earlier[0]
        else:
            try:
                check.id = await _post(api, check.step, body)
                check.state = "done"
            except ApiProblem as problem:
                if problem.status == 401:
                    raise
                check.state, check.problem = "failed", problem
                stop = True
                continue
        ids[check.step] = check.id
        kept.append(f"{table}|{check.step}|{check.id}|{digest}")
    return checks, kept


PATHS = {
    "sourceConnection": f"{FLOW}/sourceConnections",
    "dataSet": f"{CATALOG}/dataSets",
    "targetConnection": f"{FLOW}/targetConnections",
    "mappingSet": f"{CONVERSION}/mappingSets",
    "flow": f"{FLOW}/flows",
}


async def _post(api: ApiClient, step: str, body: dict[str, Any]) -> str:
    answer: Any = await api.call("POST", PATHS[step], json_body=body)
    if step == "dataSet":  # Catalog answers ["@/dataSets/{id}"]
        return str(answer[0]).rsplit("/", 1)[-1]
    return str(answer["id"])


def _body(
    step: str,
    draft: Draft,
    table: str,
    ids: dict[str, str],
    names: tuple[str, str, str],
    spec: dict[str, Any],
    columns: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """The request body of one call, from the draft and the ids of the calls before it (``names``: the source
    and target connection spec ids and the account's name)."""
    source_spec, target_spec, account_name = names
    if step == "sourceConnection":
        return {
            "name": f"{table} source",
            "baseConnectionId": draft.conn,
            "data": {"format": "tabular"},
            "params": {"tableName": table},
            "connectionSpec": {"id": source_spec, "version": "1.0"},
        }
    if step == "dataSet":
        if draft.dataset == "existing":
            return None
        body = {"name": draft.dataset_name_for(table)}
        return {**body, "description": draft.dataset_description} if draft.dataset_description else body
    if step == "targetConnection":
        return {
            "name": f"{draft.dataset_name_for(table)} target",
            "data": {"format": "delta"},
            "params": {"dataSetId": ids["dataSet"], "writeMode": draft.mode},
            "connectionSpec": {"id": target_spec, "version": "1.0"},
        }
    if step == "mappingSet":
        rows = decode_mapping(draft.mapping if draft.single else "", columns)
        return {"mappings": [r.api() for r in rows if r.on]}
    options: dict[str, Any] = {"errorDiagnosticsEnabled": draft.diagnostics}
    if draft.partial:
        options["partialIngestionPercent"] = float(draft.partial_pct)
    return {
        "name": draft.flow_name_for(table, account_name),
        "description": draft.description,
        "flowSpec": {"id": spec.get("id"), "version": str(spec.get("version") or "1.0")},
        "sourceConnectionIds": [ids["sourceConnection"]],
        "targetConnectionIds": [ids["targetConnection"]],
        "transformations": [
            {"name": "Copy", "params": {"deltaColumn": {"name": draft.delta}}},
            {"name": "Mapping", "params": {"mappingId": ids["mappingSet"], "mappingVersion": 0}},
        ],
        "scheduleParams": schedule_params(draft),
        "options": options,
    }


# ------------------------------------------------------------------------------------------------ done
@router.get("/s/{sandbox}/dataflows/new/done")
async def done(request: Request, sandbox: str) -> Response:
    page = await Page.open(request, sandbox, "accounts")
    draft = Draft.read(_values(_multi(request)))
    ctx = await _context(page, draft, describe=False)
    flows = [_made(draft, t) for t in draft.tables]
    runs = await _first_runs(page, [f["flow"] for f in flows if f.get("flow")])
    context = {"ctx": ctx, "draft": ctx.draft, "flows": flows, "runs": runs, "flow_ids": list(runs)}
    context.update(steps=CREATE_STEPS, titles=CREATE_TITLES, sandbox_url=page.url(""))
    return render(request, "wizard/done.html", context, page=page)


@router.get("/s/{sandbox}/dataflows/new/first-runs")
async def first_runs(request: Request, sandbox: str) -> Response:
    """The first runs of the new flows (htmx polls it until each flow has one)."""
    page = await Page.open(request, sandbox, "accounts")
    flow_ids = [f for f in request.query_params.getlist("flow") if f]
    runs = await _first_runs(page, flow_ids)
    context = {"runs": runs, "flow_ids": flow_ids, "sandbox_url": page.url("")}
    return render(request, "wizard/first_runs.html", context, page=page)


def _made(draft: Draft, table: str) -> dict[str, str]:
    return {"table": table, **{step: made[0] for step, made in draft.made(table).items()}}


async def _first_runs(page: Page, flow_ids: list[str]) -> dict[str, dict[str, Any] | None]:
    out: dict[str, dict[str, Any] | None] = {}
    for flow_id in flow_ids:
        listing = await page.api.call(
            "GET", f"{FLOW}/runs", params=[("property", f"flowId=={flow_id}"), ("orderby", "createdAt"), ("limit", "1")]
        )
        items = listing.get("items") or []
        out[flow_id] = items[0] if items else None
    return out
