"""OData responses: the JSON media type and headers every Web API answer carries."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

ODATA_JSON = "application/json; odata.metadata=minimal"


def odata_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = {"OData-Version": "4.0"}
    if extra:
        headers.update(extra)
    return headers


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=ODATA_JSON, headers=odata_headers(headers))
