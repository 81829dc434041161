"""Sign in (org, client id, client secret → ``/ims/token/v3``), sign out, the sandbox switcher's redirect."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from flowservice.web import session
from flowservice.web.client import SANDBOXES, ApiClient, ApiProblem, Session
from flowservice.web.pages import SANDBOX_NAME, api_for, redirect, render

router = APIRouter()
KINDS: tuple[str, ...] = ("sources", "accounts", "dataflows", "datasets", "monitoring", "about")
"""The sections whose pages exist in every sandbox (resource pages don't cross sandboxes)."""


@router.get("")
async def home(request: Request) -> Response:
    return redirect(session.HOME if session.read(request) else "/ui/login")


@router.get("/login")
async def login_form(request: Request, next: str = "", expired: str = "") -> Response:
    notice = "Your session has ended: sign in again to continue." if expired else ""
    org, client_id = session.remembered(request)
    context = {"next": session.safe_next(next), "org": org, "client_id": client_id, "notice": notice}
    return render(request, "login.html", context)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    session.check_csrf(request, fields.get(session.CSRF_FIELD))
    org, client_id = fields.get("org", "").strip(), fields.get("client_id", "").strip()
    secret = fields.get("client_secret", "")
    next_url = session.safe_next(fields.get("next"))
    context = {"next": next_url, "org": org, "client_id": client_id}
    missing = [
        label for label, value in (("Org ID", org), ("Client ID", client_id), ("Client secret", secret)) if not value
    ]
    if missing:
        return render(request, "login.html", {**context, "error": f"Fill in: {', '.join(missing)}."}, status=400)
    api = api_for(request)
    try:
        issued = await api.token(client_id, secret)
        # the org is the caller's word: the first call proves it (a wrong org is the API's own 403)
        checker = ApiClient(api.http, api.public_url, Session(str(issued["access_token"]), client_id, org), "prod")
        await checker.call("GET", SANDBOXES)
    except ApiProblem as problem:
        return render(
            request, "login.html", {**context, "error": problem.message, "problem": problem}, status=problem.status
        )
    response = redirect(next_url)
    lifetime = max(1, int(issued.get("expires_in", 0)) // 1000)
    session.start(response, request, Session(str(issued["access_token"]), client_id, org), lifetime)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form()
    submitted = form.get(session.CSRF_FIELD)
    session.check_csrf(request, submitted if isinstance(submitted, str) else None)
    response = redirect("/ui/login")
    session.end(response, request)
    return response


@router.get("/s/{sandbox}")
async def sandbox_home(sandbox: str) -> Response:
    return redirect(f"/ui/s/{quote(sandbox)}/sources")


@router.get("/s/{sandbox}/switch")
async def switch(sandbox: str, to: str = "", kind: str = "sources") -> Response:
    """The switcher's GET form: the same kind of page in the other sandbox."""
    target = to if SANDBOX_NAME.fullmatch(to) else sandbox
    return redirect(f"/ui/s/{quote(target)}/{kind if kind in KINDS else 'sources'}")
