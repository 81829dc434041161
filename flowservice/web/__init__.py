"""The web UI at ``/ui``: server-rendered Jinja2 pages (htmx on top) that are a client of the public API only.

It imports the standard library, httpx, jinja2, starlette/fastapi and itself, never the server's layers (an
import contract in ``pyproject.toml``): every datum comes from a documented route, called with the same headers
a curl user sends (``client.py``). ``install`` is all ``api/app.py`` knows of it.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from flowservice.web import session
from flowservice.web.client import ApiProblem
from flowservice.web.pages import HERE, Holder, redirect, render
from flowservice.web.views import (
    about,
    account_page,
    accounts,
    auth,
    dataflow_edit,
    dataflows,
    datasets,
    explore,
    monitoring,
    runs,
    sources,
    wizard,
)

STATIC_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"public, max-age=3600")]


class _Static:
    """The static files with their own headers (no CSP needed: they are not documents)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: dict) -> None:  # type: ignore[type-arg]
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).extend(STATIC_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_headers)  # type: ignore[arg-type]


def create_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for module in (
        auth,
        sources,
        accounts,
        account_page,
        explore,
        wizard,
        dataflows,
        dataflow_edit,
        runs,
        datasets,
        monitoring,
        about,
    ):
        router.include_router(module.router, prefix="/ui")
    return router


def install(app: FastAPI, *, api_url: str | None = None) -> None:
    """Mount the UI on ``app``: its pages, its static files, ``/`` → ``/ui``, and the handlers that turn a
    missing session, an API error and a CSRF refusal into pages."""
    app.state.ui_http = Holder(api_url)
    app.include_router(create_router())
    app.mount("/ui/static", _Static(StaticFiles(directory=HERE / "static")), name="ui-static")

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return redirect("/ui")

    @app.exception_handler(session.SignInRequired)
    async def _sign_in(request: Request, exc: session.SignInRequired) -> Response:
        ended = "&expired=1" if session.had_session(request) else ""
        return redirect(f"/ui/login?next={_quote(exc.next_url)}{ended}", request)

    @app.exception_handler(ApiProblem)
    async def _problem(request: Request, exc: ApiProblem) -> Response:
        if exc.status == 401:  # expired or refused token: sign in again, then come back here
            return redirect(f"/ui/login?next={_quote(session.current_url(request))}&expired=1", request)
        page = getattr(request.state, "page", None)
        fragment = request.headers.get("hx-request") == "true"
        template = "problem_fragment.html" if fragment else "problem.html"
        return render(request, template, {"problem": exc}, status=exc.status, page=page)

    @app.exception_handler(session.CsrfRejected)
    async def _csrf(request: Request, exc: session.CsrfRejected) -> Response:
        page = getattr(request.state, "page", None)
        return render(request, "forbidden.html", {"message": str(exc)}, status=403, page=page)


def _quote(url: str) -> str:
    from urllib.parse import quote

    return quote(url, safe="/")
