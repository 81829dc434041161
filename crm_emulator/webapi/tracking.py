"""Change tracking: the first tracked read (every row, paged to its deltaLink) and the changes since a token."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from starlette.responses import Response

from crm_emulator.config import EmulatorConfig
from crm_emulator.data import Item, OrgData
from crm_emulator.errors import (
    EXPIRED_DELTA_MESSAGE,
    EXPIRED_VERSION_STAMP,
    UNSUPPORTED_QUERY,
    DataverseError,
    bad_request,
)
from crm_emulator.metadata_api import MetadataApi
from crm_emulator.paging import Cookie, _lower_escapes, delta_token, parse_delta_token
from crm_emulator.records import Renderer
from crm_emulator.schema import Table
from crm_emulator.webapi.query import Query
from crm_emulator.webapi.scan import scan_page
from crm_emulator.webapi.stream import PageStream


class Tracking:
    def __init__(self, config: EmulatorConfig, data: OrgData, metadata: MetadataApi, pages: PageStream) -> None:
        self.config = config
        self.data = data
        self.metadata = metadata
        self.pages = pages

    @property
    def api(self) -> str:
        return self.config.api_url

    def require(self, q: Query, table: Table) -> None:
        if not table.change_tracking:
            raise DataverseError(400, "0x80040203", f"Entity: {table.logical_name} isn't enabled for change tracking.")
        for option, name in (("$filter", "filter"), ("$orderby", "orderby"), ("$expand", "expand"), ("$top", "top")):
            if option in q.params:
                raise DataverseError(
                    400,
                    UNSUPPORTED_QUERY,
                    f'The "${name}" query parameter isn\'t supported when Change Tracking is enabled.',
                )

    def snapshot(self, q: Query, table: Table) -> Response:
        """Initial sync: every row, paged; the deltaLink appears on the last page only (reference §5.2)."""
        self.require(q, table)
        page_size = q.page_size(table)
        cookie = Cookie.decode(q.skiptoken) if q.skiptoken else None
        name = table.logical_name
        if cookie is not None:
            if not cookie.tracking or "snapshot" not in cookie.extra:
                raise bad_request("The $skiptoken paging cookie does not match this query.")
            snapshot = int(cookie.extra["snapshot"])
            after = dict(cookie.last).get(table.primary_id)
        else:
            snapshot = self.data.overlay.version
            after = None
        items, more = scan_page(self.data, name, None, after, page_size)
        head: dict[str, Any] = {"@odata.context": q.context(self.api, table)}
        tail: dict[str, Any] = {}
        base = f"{self.api}{table.entity_set}"
        if more and items:
            page = cookie.page + 1 if cookie else 1
            nxt = Cookie(
                page,
                tracking=True,
                extra={"snapshot": str(snapshot)},
                last=[(table.primary_id, self.data.item_id(name, items[-1]))],
                first=[(table.primary_id, self.data.item_id(name, items[0]))],
            )
            tail["@odata.nextLink"] = q.link(base, {"$skiptoken"}, {"$skiptoken": quote(nxt.encode(), safe="=/")})
        else:
            token = _lower_escapes(quote(delta_token(snapshot, self.data.now()), safe=""))
            head["@odata.deltaLink"] = q.link(base, {"$skiptoken", "$deltatoken"}, {"$deltatoken": token})
        renderer = Renderer(self.data, table, q.select, q.prefs)
        then = self.pages.read_ahead(renderer, items, page_size, renderer.fast and more)
        return self.pages.stream(head, items, tail, renderer, q.preference_applied(page_size, True), then=then)

    def delta_version(self, table: Table, token: str) -> int:
        if not table.change_tracking:
            raise DataverseError(400, "0x80040203", f"Entity: {table.logical_name} isn't enabled for change tracking.")
        version = parse_delta_token(
            token, self.data.overlay.version, self.config.change_tracking_expiry_days, self.data.now()
        )
        if version < self.metadata.lifecycle.delta_floor:
            # issued by the org before a reset or copy: as Dataverse answers a token it no longer knows
            raise DataverseError(400, EXPIRED_VERSION_STAMP, EXPIRED_DELTA_MESSAGE)
        return version

    def delta(self, q: Query, table: Table) -> Response:
        """Changes since a delta token: new/updated rows by version, then ``$deletedEntity`` items."""
        self.require(q, table)
        since = self.delta_version(table, q.deltatoken or "")
        cookie = Cookie.decode(q.skiptoken) if q.skiptoken else None
        if cookie is not None and "snapshot" not in cookie.extra:
            raise bad_request("The $skiptoken paging cookie does not match this query.")
        snapshot = int(cookie.extra["snapshot"]) if cookie else self.data.overlay.version
        offset = int(cookie.extra.get("offset", "0")) if cookie else 0
        name = table.logical_name
        changes = self.data.overlay.changes(name, since, snapshot)
        upserts: list[Item] = []
        deleted: list[str] = []
        for row_id, _, op in changes:
            if op == "delete":
                deleted.append(row_id)
                continue
            item = self.data.get(name, row_id)
            if item is not None:
                upserts.append(item)
        entries: list[Item | str] = [*upserts, *deleted]
        page_size = q.page_size(table)
        window = entries[offset : offset + page_size]
        more = offset + page_size < len(entries)
        base = f"{self.api}{table.entity_set}"
        head: dict[str, Any] = {"@odata.context": q.context(self.api, table, "/$delta")}
        tail: dict[str, Any] = {}
        if more:
            nxt = Cookie(
                (cookie.page if cookie else 0) + 1,
                tracking=True,
                extra={"snapshot": str(snapshot), "offset": str(offset + page_size)},
                last=[(table.primary_id, str(offset + page_size))],
                first=[(table.primary_id, str(offset))],
            )
            tail["@odata.nextLink"] = q.link(base, {"$skiptoken"}, {"$skiptoken": quote(nxt.encode(), safe="=/")})
        else:
            token = _lower_escapes(quote(delta_token(snapshot, self.data.now()), safe=""))
            head["@odata.deltaLink"] = q.link(base, {"$skiptoken", "$deltatoken"}, {"$deltatoken": token})
        rows = [e for e in window if not isinstance(e, str)]
        gone = [
            orjson.dumps(
                {
                    "@odata.context": f"{self.api}$metadata#{table.entity_set}/$deletedEntity",
                    "id": e,
                    "reason": "deleted",
                }
            )
            for e in window
            if isinstance(e, str)
        ]
        renderer = Renderer(self.data, table, q.select, q.prefs)
        return self.pages.stream(head, rows, tail, renderer, q.preference_applied(None, False), gone)
