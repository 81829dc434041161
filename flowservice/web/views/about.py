"""About this connection: where the UI's API is (in-process or a URL), who the session is (org, sandbox,
client id, token expiry), the server's version (from its OpenAPI document) and the links to its API docs."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from flowservice.web import session
from flowservice.web.pages import Page, holder, render

router = APIRouter()
OPENAPI = "/openapi.json"


@router.get("/s/{sandbox}/about")
async def about(request: Request, sandbox: str) -> Response:
    page = await Page.open(request, sandbox, "about")
    info = (await page.api.call("GET", OPENAPI)).get("info") or {}
    user = page.api.session
    context = {
        "api_url": page.api.public_url,
        "in_process": holder(request).api_url is None,
        "org": user.org if user else "",
        "client_id": user.client_id if user else "",
        "expires_at": (session.expires_at(request) or 0) * 1000,
        "version": str(info.get("version") or "unknown"),
        "title": str(info.get("title") or "flowservice"),
        "docs_url": page.api.public_url.rstrip("/") + "/docs",
        "openapi_url": page.api.public_url.rstrip("/") + OPENAPI,
    }
    return render(request, "about.html", context, page=page)
