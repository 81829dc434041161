"""Entity-set reads: a collection's page (filter, order, expand, top, count, paging cookie) and ``$count``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from crm_emulator.config import EmulatorConfig
from crm_emulator.data import OrgData
from crm_emulator.errors import bad_request, property_not_found, unsupported
from crm_emulator.ids import normalize_guid
from crm_emulator.key_ranges import KeyRange
from crm_emulator.odata_eval import compile_filter
from crm_emulator.odata_filter import parse_filter
from crm_emulator.paging import Cookie
from crm_emulator.records import Renderer, resolve_expand
from crm_emulator.responses import odata_headers
from crm_emulator.schema import Table
from crm_emulator.webapi.order import Ordering
from crm_emulator.webapi.query import Query
from crm_emulator.webapi.scan import count_rows, key_range_of, scan_page
from crm_emulator.webapi.stream import PageStream
from crm_emulator.webapi.tracking import Tracking


class Reads:
    def __init__(self, config: EmulatorConfig, data: OrgData, pages: PageStream, tracking: Tracking) -> None:
        self.config = config
        self.data = data
        self.pages = pages
        self.tracking = tracking
        self.ordering = Ordering(data)

    @property
    def api(self) -> str:
        return self.config.api_url

    def collection(self, request: Request, table: Table) -> Response:
        q = Query(request)
        q.check_select(table)
        if q.deltatoken is not None:
            return self.tracking.delta(q, table)
        if q.prefs.track_changes:
            return self.tracking.snapshot(q, table)
        tree = parse_filter(q.filter_text, q.aliases) if q.filter_text else None
        predicate = compile_filter(tree, table) if tree is not None else None
        for prop, _ in q.orderby:
            if prop not in table.by_prop:
                raise property_not_found(prop, table.logical_name)
        if q.orderby == [(table.primary_id, False)]:
            q.orderby = []  # the default order: page it as such (the cookie is the same)
        expand = resolve_expand(table, q.expand)
        if len(expand) > 15:
            raise bad_request("The number of $expand options exceeds the limit of 15.")
        page_size = q.page_size(table)
        if q.top is not None:
            if q.top > 5000:
                raise unsupported("$top greater than 5000")
            page_size = q.top
        cookie = Cookie.decode(q.skiptoken) if q.skiptoken else None
        if q.top is not None and cookie is not None:
            raise bad_request("$skiptoken cannot be combined with $top.")
        name = table.logical_name
        key_range: KeyRange | None = None
        if q.orderby:
            items, more, last_keys, first_keys = self.ordering.page(q, table, predicate, cookie, page_size)
        else:
            after = None
            if cookie is not None:
                pk_last = dict(cookie.last).get(table.primary_id)
                if pk_last is None or normalize_guid(pk_last) is None:
                    raise bad_request("The $skiptoken paging cookie does not match this query.")
                after = pk_last
            key_range, predicate = key_range_of(tree, table, predicate)
            items, more = scan_page(self.data, name, predicate, after, page_size, key_range)
            last_keys = [(table.primary_id, self.data.item_id(name, items[-1]))] if items else []
            first_keys = [(table.primary_id, self.data.item_id(name, items[0]))] if items else []
        if q.top is not None:
            more = False
        head: dict[str, Any] = {"@odata.context": q.context(self.api, table)}
        if q.count:
            head["@odata.count"] = count_rows(self.data, name, predicate, key_range)
        tail: dict[str, Any] = {}
        if more and items:
            page = cookie.page + 1 if cookie else 1
            next_cookie = Cookie(page, last=last_keys, first=first_keys)
            tail["@odata.nextLink"] = q.link(
                f"{self.api}{table.entity_set}", {"$skiptoken"}, {"$skiptoken": quote(next_cookie.encode(), safe="=/")}
            )
        renderer = Renderer(self.data, table, q.select, q.prefs, expand)
        headers = q.preference_applied(page_size if q.top is None else None, False)
        sequential = renderer.fast and more and predicate is None and not q.orderby
        return self.pages.stream(
            head, items, tail, renderer, headers, then=self.pages.read_ahead(renderer, items, page_size, sequential)
        )

    def count(self, request: Request, table: Table) -> Response:
        q = Query(request)
        if q.deltatoken is not None:
            version = self.tracking.delta_version(table, q.deltatoken)
            n = len(self.data.overlay.changes(table.logical_name, version, self.data.overlay.version))
        else:
            tree = parse_filter(q.filter_text, q.aliases) if q.filter_text else None
            predicate = compile_filter(tree, table) if tree is not None else None
            key_range, predicate = key_range_of(tree, table, predicate)
            n = count_rows(self.data, table.logical_name, predicate, key_range)
        return Response(str(n).encode(), media_type="text/plain", headers=odata_headers())
