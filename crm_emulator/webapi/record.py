"""One record by its key: GET (with its ETag and If-None-Match), and the one-record body writes answer with too."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from crm_emulator.config import EmulatorConfig
from crm_emulator.cost import record_rows
from crm_emulator.data import Item, OrgData
from crm_emulator.errors import RECORD_NOT_FOUND, DataverseError
from crm_emulator.records import Renderer, resolve_expand
from crm_emulator.responses import ODATA_JSON, odata_headers
from crm_emulator.schema import Table
from crm_emulator.webapi.query import Query


def not_found(table: Table, row_id: str) -> DataverseError:
    return DataverseError(404, RECORD_NOT_FOUND, f"{table.logical_name} With Id = {row_id} Does Not Exist")


class Records:
    def __init__(self, config: EmulatorConfig, data: OrgData) -> None:
        self.config = config
        self.data = data

    @property
    def api(self) -> str:
        return self.config.api_url

    def response(
        self, table: Table, item: Item, q: Query, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        expand = resolve_expand(table, q.expand)
        renderer = Renderer(self.data, table, q.select, q.prefs, expand)
        body = renderer.render(item)
        record_rows(1, len(renderer.props))
        context = orjson.dumps({"@odata.context": q.context(self.api, table, "/$entity")})
        merged = context[:-1] + b"," + body[1:]
        hdrs = q.preference_applied(None, False)
        hdrs.update(headers or {})
        return Response(merged, status_code=status, media_type=ODATA_JSON, headers=odata_headers(hdrs))

    def retrieve(self, request: Request, table: Table, row_id: str) -> Response:
        q = Query(request)
        q.check_select(table)
        item = self.data.get(table.logical_name, row_id)
        if item is None:
            raise not_found(table, row_id)
        etag = f'W/"{self.data.values(table.logical_name, item).get("versionnumber")}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=odata_headers({"ETag": etag}))
        return self.response(table, item, q, headers={"ETag": etag})
