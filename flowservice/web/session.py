"""The UI's session: cookies, CSRF, and the sign-in redirect that brings the user back to the deep link.

- ``fs_token`` (the access token), ``fs_client`` (the client id, also ``x-api-key``) and ``fs_org``:
  ``HttpOnly; SameSite=Strict; Path=/ui``, plus ``Secure`` over https. JavaScript never sees the token and the
  client secret is never stored anywhere (it goes to ``/ims/token/v3`` and is dropped).
- CSRF: double submit. ``fs_csrf`` holds a random token (HttpOnly, SameSite=Strict); every state change must
  carry the same value in the form field ``csrf_token`` or the ``X-CSRF-Token`` header (htmx sends it from
  ``hx-headers`` on ``<body>``). A cross-site page can neither read the cookie nor set it, so it cannot send
  the matching value; on top, a POST whose ``Origin`` is another site, or whose ``Sec-Fetch-Site`` is
  ``cross-site``, is refused before anything else.
"""

from __future__ import annotations

import hmac
import secrets
import time
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from flowservice.web.client import Session

TOKEN_COOKIE = "fs_token"
CLIENT_COOKIE = "fs_client"
ORG_COOKIE = "fs_org"
EXPIRES_COOKIE = "fs_expires"
CSRF_COOKIE = "fs_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
PATH = "/ui"
HOME = "/ui/s/prod/sources"


class CsrfRejected(Exception):
    """A state change without the session's CSRF token, or from another site."""


class SignInRequired(Exception):
    """No session, or the API refused its token: sign in, then come back to ``next``."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url
        super().__init__(next_url)


def read(request: Request) -> Session | None:
    token, client, org = (request.cookies.get(n) for n in (TOKEN_COOKIE, CLIENT_COOKIE, ORG_COOKIE))
    if not token or not client or not org:
        return None
    return Session(token, client, org)


def expires_at(request: Request) -> int | None:
    value = request.cookies.get(EXPIRES_COOKIE, "")
    return int(value) if value.isdigit() else None


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _set(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=PATH, httponly=True, samesite="strict", secure=_secure(request)
    )


REMEMBER_SECONDS = 30 * 24 * 3600
"""The client id and org outlive the token (neither is a secret): the sign-in form offers them again."""


def start(response: Response, request: Request, session: Session, lifetime_seconds: int) -> None:
    _set(response, request, TOKEN_COOKIE, session.token, lifetime_seconds)
    _set(response, request, EXPIRES_COOKIE, str(int(time.time()) + lifetime_seconds), lifetime_seconds)
    for name, value in ((CLIENT_COOKIE, session.client_id), (ORG_COOKIE, session.org)):
        _set(response, request, name, value, REMEMBER_SECONDS)


def end(response: Response, request: Request) -> None:
    for name in (TOKEN_COOKIE, EXPIRES_COOKIE):
        response.delete_cookie(name, path=PATH, httponly=True, samesite="strict", secure=_secure(request))


def remembered(request: Request) -> tuple[str, str]:
    """The org and client id of the last sign-in (the form's defaults)."""
    return request.cookies.get(ORG_COOKIE, ""), request.cookies.get(CLIENT_COOKIE, "")


def had_session(request: Request) -> bool:
    """Whether this browser signed in before (its session ended, rather than never began)."""
    return bool(request.cookies.get(CLIENT_COOKIE))


# ----------------------------------------------------------------------------------------------- CSRF
def csrf_token(request: Request) -> tuple[str, bool]:
    """The session's CSRF token, and whether it is new (then the response must set it)."""
    existing = request.cookies.get(CSRF_COOKIE, "")
    if len(existing) >= 32:
        return existing, False
    cached: str | None = getattr(request.state, "csrf_new", None)
    if cached is None:
        cached = request.state.csrf_new = secrets.token_urlsafe(32)
    return cached, True


def set_csrf(response: Response, request: Request) -> None:
    token, new = csrf_token(request)
    if new:
        _set(response, request, CSRF_COOKIE, token, None)


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a state change that is cross-site or lacks the double-submitted token."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null" and _origin(origin) != _origin(str(request.base_url)):
        raise CsrfRejected(f"The request comes from another site ({origin}).")
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise CsrfRejected("The request comes from another site.")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    value = submitted or request.headers.get(CSRF_HEADER, "")
    if not cookie or not value or not hmac.compare_digest(cookie.encode(), value.encode()):
        raise CsrfRejected("The form's security token is missing or stale: reload the page and try again.")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


# ------------------------------------------------------------------------------------------- redirects
def safe_next(value: str | None) -> str:
    """``next`` when it is a path under /ui (never another host, scheme or ``//``), else the home page."""
    if not value or not value.startswith("/ui") or value.startswith("//") or "\\" in value:
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not (parts.path == "/ui" or parts.path.startswith("/ui/")):
        return HOME
    if parts.path.startswith("/ui/login") or parts.path.startswith("/ui/static"):
        return HOME
    return value


def current_url(request: Request) -> str:
    """Where to come back to after signing in: this page for a GET, the page a form was on for a POST."""
    if request.method == "GET" and request.headers.get("hx-request") != "true":
        url = request.url.path + ("?" + request.url.query if request.url.query else "")
        return safe_next(url)
    current = request.headers.get("hx-current-url") or request.headers.get("referer") or ""
    parts = urlsplit(current)
    if parts.netloc and parts.netloc != request.url.netloc:
        return HOME
    return safe_next(parts.path + ("?" + parts.query if parts.query else ""))
