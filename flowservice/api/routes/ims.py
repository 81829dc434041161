"""``POST /ims/token/v3``: client credentials in, a signed bearer token out (the IMS call Adobe clients make)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request

from flowservice.api.http import Json
from flowservice.domain.errors import InvalidRequest, UnsupportedMediaType

router = APIRouter(tags=["identity"])


@router.post(
    "/ims/token/v3",
    response_class=Json,
    summary="Exchange client credentials for an access token",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type", "client_id", "client_secret"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string", "format": "password"},
                            "scope": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def token(request: Request) -> Json:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if len(raw) > 64 * 1024:
        raise InvalidRequest("The token request is too large.")
    if content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    elif content_type == "multipart/form-data":
        form = {k: str(v) for k, v in (await request.form()).items()}
    else:
        raise UnsupportedMediaType("Send the token request as application/x-www-form-urlencoded.")
    # query parameters are accepted too, as IMS does
    fields = {**dict(request.query_params), **form}
    missing = [k for k in ("grant_type", "client_id", "client_secret") if not fields.get(k)]
    if missing:
        raise InvalidRequest(f"The token request lacks: {', '.join(missing)}.")
    identity = request.app.state.container.identity
    return Json(identity.issue_token(fields["grant_type"], fields["client_id"], fields["client_secret"]))
