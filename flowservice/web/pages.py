"""Rendering: the Jinja2 environment (autoescaped), the security headers of every UI response, and ``Page``,
what a screen holds while it renders (its API client, its sandbox, the sandbox list for the switcher)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from flowservice.web import session
from flowservice.web.client import SANDBOXES, ApiClient, ApiProblem

HERE = Path(__file__).parent
HTMX = "vendor/htmx-2.0.11.min.js"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
SANDBOX_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _utc(epoch_ms: Any) -> str:
    if not isinstance(epoch_ms, int | float):
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_ms / 1000))


env.filters["utc"] = _utc


@dataclass
class Holder:
    """The UI's one HTTP client to the API, made on first use (it needs the running event loop's app)."""

    api_url: str | None
    http: httpx.AsyncClient | None = None

    def get(self, request: Request) -> httpx.AsyncClient:
        if self.http is None:
            from flowservice.web.client import open_http

            self.http = open_http(request.app, self.api_url)
        return self.http

    def public_url(self, request: Request) -> str:
        return self.api_url or str(request.base_url).rstrip("/")


def holder(request: Request) -> Holder:
    found: Holder = request.app.state.ui_http
    return found


def api_for(request: Request, sandbox: str = "prod") -> ApiClient:
    """An API client without a session (sign-in)."""
    h = holder(request)
    return ApiClient(h.get(request), h.public_url(request), None, sandbox)


@dataclass
class Page:
    request: Request
    api: ApiClient
    sandbox: str
    sandboxes: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "sources"
    """The section, for the switcher: it lands on the same kind of page in the other sandbox."""
    started: float = field(default_factory=time.perf_counter)

    @staticmethod
    async def open(request: Request, sandbox: str, kind: str) -> Page:
        """The page of a signed-in user in ``sandbox``; its first call lists the sandboxes (and proves the
        token: a 401 sends the user to sign in, an unknown sandbox is the API's 404)."""
        user = session.read(request)
        if user is None:
            raise session.SignInRequired(session.current_url(request))
        h = holder(request)
        page = Page(request, ApiClient(h.get(request), h.public_url(request), user, sandbox), sandbox, kind=kind)
        request.state.page = page
        if not SANDBOX_NAME.fullmatch(sandbox):
            raise ApiProblem.local(404, f"There is no sandbox named {sandbox!r}.")
        listing = await page.api.call("GET", SANDBOXES)
        page.sandboxes = list(listing.get("sandboxes") or [])
        return page

    def url(self, rest: str = "") -> str:
        return f"/ui/s/{self.sandbox}/{rest}".rstrip("/")


def security(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    page: Page | None = None,
) -> HTMLResponse:
    token, _ = session.csrf_token(request)
    user = session.read(request)
    ctx = {
        "request": request,
        "page": page,
        "user": user,
        "expires": _utc((session.expires_at(request) or 0) * 1000) if user else "",
        "csrf": token,
        "htmx": HTMX,
        "calls": page.api.calls if page else [],
        "public_url": page.api.public_url if page else "",
        **(context or {}),
    }
    response = HTMLResponse(env.get_template(template).render(ctx), status_code=status)
    session.set_csrf(response, request)
    if page is not None:
        response.headers["Server-Timing"] = server_timing(page)
    return security(response)  # type: ignore[return-value]


def server_timing(page: Page) -> str:
    """How long the page took on the server, split into the API's time and the UI's own (``bench/ui.py`` reads
    it; browsers show it in their network panel). Calls made side by side may add up to more than they took."""
    total = (time.perf_counter() - page.started) * 1000
    api = sum(call.ms for call in page.api.calls)
    return f'api;dur={api:.1f};desc="{len(page.api.calls)} API calls", ui;dur={max(total - api, 0.0):.1f}'


def redirect(url: str, request: Request | None = None) -> Response:
    """PRG: 303 to ``url``; an htmx request gets ``HX-Redirect`` instead (a full navigation)."""
    if request is not None and request.headers.get("hx-request") == "true":
        return security(Response(status_code=200, headers={"HX-Redirect": url}))
    return security(RedirectResponse(url, status_code=303))
