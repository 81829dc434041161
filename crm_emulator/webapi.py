"""Dataverse Web API v9.2 resources: service document, ``$metadata``, ``WhoAmI``, metadata entities, entity
sets (query, paging, change tracking) and single records (read, create, update, delete).

Anything the emulator does not model answers a loud 400 with the Dataverse error body rather than a result
that might be silently wrong.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from crm_emulator.batch import run_batch
from crm_emulator.config import EmulatorConfig
from crm_emulator.cost import record_operation, record_rows
from crm_emulator.data import Item, OrgData
from crm_emulator.errors import (
    EXPIRED_DELTA_MESSAGE,
    EXPIRED_VERSION_STAMP,
    RECORD_NOT_FOUND,
    UNSUPPORTED_QUERY,
    DataverseError,
    bad_request,
    property_not_found,
    segment_not_found,
    unsupported,
)
from crm_emulator.files import Files, version_images
from crm_emulator.ids import normalize_guid, sql_key
from crm_emulator.key_ranges import KeyRange, split_key_range
from crm_emulator.metadata_api import MetadataApi
from crm_emulator.odata_eval import compile_filter
from crm_emulator.odata_filter import parse_filter
from crm_emulator.odata_options import KEY, parse_expand, parse_orderby, parse_select
from crm_emulator.odata_values import coerce_text, sort_value
from crm_emulator.paging import Cookie, _lower_escapes, delta_token, parse_delta_token
from crm_emulator.prefer import Preferences, parse_prefer
from crm_emulator.readahead import ReadAhead
from crm_emulator.records import Renderer, parse_payload, resolve_expand
from crm_emulator.rendered import CHUNK
from crm_emulator.responses import ODATA_JSON, odata_headers
from crm_emulator.schema import Column, Table

log = logging.getLogger("crm_emulator")
KNOWN_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$count", "$expand", "$skiptoken", "$deltatoken"}
REJECTED_OPTIONS = {"$skip", "$search", "$format", "$apply", "$levels", "$compute", "$index", "$schemaversion"}
OTHER_QUERIES = {"fetchXml", "savedQuery", "userQuery", "sql"}
CHUNK_ROWS = CHUNK  # rows rendered and sent per body chunk: one render-cache chunk
ORDERED_CACHE_LIMIT = 300_000


class Desc:
    """Reverses the order of a sort key component (for ``desc`` columns)."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: Desc) -> bool:
        return bool(other.v < self.v)

    def __gt__(self, other: Desc) -> bool:
        return bool(other.v > self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Desc) and self.v == other.v

    def __hash__(self) -> int:
        return hash(self.v)


class Query:
    """The query options of one request, parsed and checked once."""

    def __init__(self, request: Request) -> None:
        params = request.query_params
        self.raw_query = request.url.query
        self.params: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        for key, value in params.multi_items():
            if key.startswith("@"):
                self.aliases[key] = value
            elif key in REJECTED_OPTIONS:
                raise DataverseError(400, UNSUPPORTED_QUERY, f"The query parameter {key} is not supported")
            elif key in OTHER_QUERIES:
                raise unsupported(f"The '{key}' query")
            elif key.startswith("$") and key not in KNOWN_OPTIONS:
                raise DataverseError(400, UNSUPPORTED_QUERY, f"The query parameter {key} is not supported")
            else:
                self.params[key] = value
        self.select = parse_select(self.params.get("$select"))
        self.filter_text = self.params.get("$filter")
        self.orderby = parse_orderby(self.params.get("$orderby"))
        self.expand = parse_expand(self.params.get("$expand"))
        self.count = self.params.get("$count", "false").lower() == "true"
        top = self.params.get("$top")
        try:
            self.top = int(top) if top is not None else None
        except ValueError as exc:
            raise bad_request(f"Invalid value '{top}' for $top.") from exc
        if self.top is not None and self.top < 0:
            raise bad_request("The $top query option requires a non-negative integer value.")
        self.skiptoken = self.params.get("$skiptoken")
        self.deltatoken = self.params.get("$deltatoken")
        self.prefs: Preferences = parse_prefer(request.headers.getlist("prefer"))

    def link(self, base: str, drop: set[str], add: dict[str, str]) -> str:
        """A next/delta link: the request's own query string (as sent) minus ``drop`` plus ``add``."""
        kept = []
        for part in self.raw_query.split("&") if self.raw_query else []:
            if unquote(part.partition("=")[0]) not in drop:
                kept.append(part)
        for key, value in add.items():
            kept.append(f"{key}={value}")
        return base + ("?" + "&".join(kept) if kept else "")


class WebApi:
    def __init__(self, config: EmulatorConfig, data: OrgData) -> None:
        self.config = config
        self.data = data
        self.catalog = data.catalog
        self.metadata = MetadataApi(config, data)
        self._ordered: dict[tuple[Any, ...], tuple[list[tuple[Any, ...]], list[Item]]] = {}
        self.readahead = ReadAhead(data)
        self.files = Files(data)

    @property
    def api(self) -> str:
        return self.config.api_url

    # --- routing -----------------------------------------------------------------------------------------
    def resolve_table(self, path: str) -> Table | None:
        """The table a request path addresses (for fault matching), if any."""
        first = path.split("/", 1)[0]
        m = KEY.match(first)
        name = m.group(1) if m else first
        return self.catalog.by_set.get(name)

    async def handle(self, request: Request, path: str, user_index: int) -> Response:
        record_operation()
        method = request.method
        if path in ("", "/"):
            return self.metadata.service_document()
        if path == "$metadata":
            return self.metadata.metadata_document(request)
        if path in ("WhoAmI", "WhoAmI()"):
            return self.metadata.who_am_i(user_index)
        if self.metadata.semantics and path in ("RetrieveProvisionedLanguages", "RetrieveProvisionedLanguages()"):
            return self.metadata.provisioned_languages()
        if path == "$batch":
            return await run_batch(
                request,
                lambda sub, sub_path: self.handle(sub, sub_path, user_index),
                self.config.max_batch_url_length,
            )
        segments = path.split("/")
        head = segments[0]
        m = KEY.match(head)
        name = m.group(1) if m else head
        if name == "EntityDefinitions":
            if method != "GET":
                raise unsupported("Changing table definitions")
            return self.metadata.entity_definitions(request, m.group(2) if m else None, segments[1:])
        if name == "GlobalOptionSetDefinitions" and self.metadata.semantics:
            if method != "GET":
                raise unsupported("Changing option set definitions")
            return self.metadata.global_option_set_definitions(request, m.group(2) if m else None, segments[1:])
        if name == "organizations" and self.metadata.semantics and m is None and len(segments) == 1 and method == "GET":
            return self.metadata.organizations(request)
        table = self.catalog.by_set.get(name)
        if table is None:
            raise segment_not_found(name)
        if name == "fileattachments" and m is None and len(segments) == 1 and method == "GET":
            return self.files.collection(request, self.api)
        if m is None:
            if len(segments) == 2 and segments[1] == "$count":
                return self.count(request, table)
            if len(segments) > 1:
                raise segment_not_found(segments[1])
            if method == "GET":
                return self.collection(request, table)
            if method == "POST":
                return await self.create(request, table, user_index)
            raise DataverseError(405, "0x80060888", f"The HTTP method '{method}' is not allowed on an entity set.")
        key = m.group(2)
        row_id = normalize_guid(key) if re.fullmatch(r"\{?[0-9A-Fa-f-]{36}\}?", key) else None
        if row_id is None:
            if "=" in key:
                raise unsupported("Addressing records by alternate key")
            raise bad_request(f"The key value '{key}' is not a valid GUID.")
        if len(segments) == 3 and segments[2] == "$value" and method == "GET":
            return self.files.value(request, table, row_id, segments[1])
        if len(segments) > 1:
            raise unsupported(f"The path segment '{segments[1]}' after a record")
        if method == "GET":
            return self.retrieve(request, table, row_id)
        if method == "PATCH":
            return await self.update(request, table, row_id, user_index)
        if method == "DELETE":
            return self.delete(table, row_id)
        raise DataverseError(405, "0x80060888", f"The HTTP method '{method}' is not allowed on a record.")

    # --- collections -------------------------------------------------------------------------------------
    def _check_select(self, table: Table, select: list[str] | None) -> None:
        for prop in select or []:
            if prop not in table.by_prop:
                raise property_not_found(prop, table.logical_name)

    def _page_size(self, table: Table, prefs: Preferences) -> int:
        cap = table.max_page_size
        if prefs.max_page_size is None or prefs.max_page_size <= 0:
            return cap
        return min(prefs.max_page_size, cap)

    def _preference_applied(self, q: Query, page_size: int | None, tracking: bool) -> dict[str, str]:
        applied = []
        if q.prefs.annotations_raw is not None:
            applied.append(f'odata.include-annotations="{q.prefs.annotations_raw}"')
        if page_size is not None and q.prefs.max_page_size is not None:
            applied.append(f"odata.maxpagesize={page_size}")
        if tracking:
            applied.append("odata.track-changes")
        return {"Preference-Applied": ",".join(applied)} if applied else {}

    def _context(self, table: Table, select: list[str] | None, suffix: str = "") -> str:
        sel = f"({','.join(select)})" if select else ""
        return f"{self.api}$metadata#{table.entity_set}{sel}{suffix}"

    def collection(self, request: Request, table: Table) -> Response:
        q = Query(request)
        self._check_select(table, q.select)
        if q.deltatoken is not None:
            return self.delta(q, table)
        if q.prefs.track_changes:
            return self.tracking_snapshot(q, table)
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
        page_size = self._page_size(table, q.prefs)
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
            items, more, last_keys, first_keys = self._ordered_page(q, table, predicate, cookie, page_size)
        else:
            after = None
            if cookie is not None:
                pk_last = dict(cookie.last).get(table.primary_id)
                if pk_last is None or normalize_guid(pk_last) is None:
                    raise bad_request("The $skiptoken paging cookie does not match this query.")
                after = pk_last
            key_range, predicate = self._key_range(tree, table, predicate)
            items, more = self._scan_page(name, predicate, after, page_size, key_range)
            last_keys = [(table.primary_id, self.data.item_id(name, items[-1]))] if items else []
            first_keys = [(table.primary_id, self.data.item_id(name, items[0]))] if items else []
        if q.top is not None:
            more = False
        head: dict[str, Any] = {"@odata.context": self._context(table, q.select)}
        if q.count:
            head["@odata.count"] = self._count(name, predicate, key_range)
        tail: dict[str, Any] = {}
        if more and items:
            page = cookie.page + 1 if cookie else 1
            next_cookie = Cookie(page, last=last_keys, first=first_keys)
            tail["@odata.nextLink"] = q.link(
                f"{self.api}{table.entity_set}", {"$skiptoken"}, {"$skiptoken": quote(next_cookie.encode(), safe="=/")}
            )
        renderer = Renderer(self.data, table, q.select, q.prefs, expand)
        headers = self._preference_applied(q, page_size if q.top is None else None, False)
        sequential = renderer.fast and more and predicate is None and not q.orderby
        return self._stream(
            head, items, tail, renderer, name, headers, then=self._read_ahead(renderer, items, page_size, sequential)
        )

    def _scan_page(
        self, table: str, predicate: Any, after: str | None, size: int, key_range: KeyRange | None = None
    ) -> tuple[list[Item], bool]:
        items: list[Item] = []
        segments = self.data.range_segments(table, after, key_range)
        if predicate is None:
            for segment in segments:  # never empty: a full page sees one more
                room = size - len(items)
                if isinstance(segment, range):
                    if len(segment) > room:
                        items.extend(segment[:room])
                        return items, True
                    items.extend(segment)
                elif room == 0:
                    return items, True
                else:
                    items.append(segment)
            return items, False
        view = self.data.view
        for segment in segments:
            for item in segment if isinstance(segment, range) else (segment,):
                if predicate(view(table, item)) is True:
                    if len(items) == size:
                        return items, True
                    items.append(item)
        return items, False

    @staticmethod
    def _key_range(tree: Any, table: Table, predicate: Any) -> tuple[KeyRange | None, Any]:
        """The filter's primary-key range (:mod:`key_ranges`) and the predicate of what remains of it."""
        key_range, rest = split_key_range(tree, table.primary_id) if tree is not None else (None, None)
        if key_range is None:
            return None, predicate
        return key_range, compile_filter(rest, table) if rest is not None else None

    def _count(self, table: str, predicate: Any, key_range: KeyRange | None = None) -> int:
        """Matching rows, capped at 5,000 like Dataverse's ``$count``."""
        if predicate is None and key_range is None:
            return min(self.data.count(table), 5000)
        n = 0
        view = self.data.view
        for segment in self.data.range_segments(table, None, key_range):
            if predicate is None:
                n += len(segment) if isinstance(segment, range) else 1
            else:
                for item in segment if isinstance(segment, range) else (segment,):
                    n += predicate(view(table, item)) is True
            if n >= 5000:
                return 5000
        return n

    def _order_value(self, col: Column, view: Any) -> Any:
        value = view.get(col.prop)
        if value is not None and col.is_lookup:
            target = self.data.table_of_id(value, col.targets) or col.targets[0]
            return self.data.primary_name(target, value) or ""
        return value

    def _sort_key(self, cols: list[tuple[Column, bool]], raw: list[Any], pk: str) -> tuple[Any, ...]:
        parts: list[Any] = []
        for (col, desc), value in zip(cols, raw, strict=True):
            comp = (0, 0) if value is None else (1, value.casefold() if col.is_lookup else sort_value(col, value))
            parts.append(Desc(comp) if desc else comp)
        parts.append(sql_key(pk))
        return tuple(parts)

    def _ordered_page(
        self, q: Query, table: Table, predicate: Any, cookie: Cookie | None, size: int
    ) -> tuple[list[Item], bool, list[tuple[str, str | None]], list[tuple[str, str | None]]]:
        name = table.logical_name
        cols = [(table.by_prop[p], desc) for p, desc in q.orderby]
        cache_key = (name, q.filter_text, tuple(q.orderby), self.data.overlay.generation, tuple(q.aliases.items()))
        cached = self._ordered.get(cache_key)
        if cached is None:
            entries: list[tuple[tuple[Any, ...], Item]] = []
            for item in self.data.scan(name):
                view = self.data.view(name, item)
                if predicate is not None and predicate(view) is not True:
                    continue
                raw = [self._order_value(c, view) for c, _ in cols]
                entries.append((self._sort_key(cols, raw, self.data.item_id(name, item)), item))
            entries.sort(key=lambda e: e[0])
            cached = ([e[0] for e in entries], [e[1] for e in entries])
            if len(entries) <= ORDERED_CACHE_LIMIT:
                if len(self._ordered) > 8:
                    self._ordered.clear()
                self._ordered[cache_key] = cached
        keys, items = cached
        start = 0
        if cookie is not None:
            last = dict(cookie.last)
            try:
                texts = [last[c.name if not c.is_lookup else c.prop] for c, _ in cols]
                raw_last = [
                    None if t is None else self._decode_order(c, t) for (c, _), t in zip(cols, texts, strict=True)
                ]
                pk_last = last[table.primary_id]
            except KeyError as exc:
                raise bad_request("The $skiptoken paging cookie does not match this query.") from exc
            if pk_last is None:
                raise bad_request("The $skiptoken paging cookie does not match this query.")
            start = bisect_right(keys, self._sort_key(cols, raw_last, pk_last))
        page = items[start : start + size]
        more = start + size < len(items)

        def key_values(item: Item) -> list[tuple[str, str | None]]:
            view = self.data.view(name, item)
            out = []
            for c, _ in cols:
                value = self._order_value(c, view)
                out.append((c.name if not c.is_lookup else c.prop, self._encode_order(value)))
            out.append((table.primary_id, self.data.item_id(name, item)))
            return out

        last_keys = key_values(page[-1]) if page else []
        first_keys = key_values(page[0]) if page else []
        return page, more, last_keys, first_keys

    @staticmethod
    def _encode_order(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal | float | int):
            return repr(value) if isinstance(value, float) else str(value)
        return str(value)

    @staticmethod
    def _decode_order(col: Column, text: str) -> Any:
        if col.is_lookup or col.type_name in (
            "StringType",
            "MemoType",
            "EntityNameType",
            "MultiSelectPicklistType",
            "ImageType",
        ):
            return text
        return coerce_text(col, text)

    def _stream(
        self,
        head: dict[str, Any],
        items: list[Item],
        tail: dict[str, Any],
        renderer: Renderer,
        table: str,
        headers: dict[str, str],
        extra: list[bytes] | None = None,
        then: Callable[[], None] | None = None,
    ) -> Response:
        prefix = orjson.dumps(head)[:-1] + b',"value":['
        suffix = b"]" + (b"," + orjson.dumps(tail)[1:] if tail else b"}")
        self.records_served += len(items)
        record_rows(len(items) + len(extra or []), len(renderer.props))

        async def body() -> AsyncIterator[bytes | memoryview]:
            yield prefix
            first = True
            for start in range(0, len(items), CHUNK_ROWS):
                pieces = renderer.render_many(items[start : start + CHUNK_ROWS])
                if len(pieces) == 1:  # one run of cached rows: send the slice as it is
                    if not first:
                        yield b","
                    yield pieces[0]
                elif pieces:
                    yield b",".join(pieces if first else [b"", *pieces])
                if pieces:
                    first = False
            for piece in extra or []:
                yield piece if first else b"," + piece
                first = False
            yield suffix
            if then is not None:
                try:
                    then()
                except Exception:  # an optimisation must never break a response that is already sent
                    log.exception("read-ahead failed")

        return StreamingResponse(body(), media_type=ODATA_JSON, headers=odata_headers(headers))

    records_served = 0

    def _read_ahead(
        self, renderer: Renderer, items: list[Item], page_size: int, sequential: bool
    ) -> Callable[[], None] | None:
        """Once a fast-path page with a nextLink is sent, render the next one in its shape (:mod:`readahead`)."""
        if not sequential or not items:
            return None
        table = renderer.table.logical_name
        return lambda: self.readahead.after_page(table, items[-1], page_size, renderer.shape)

    def count(self, request: Request, table: Table) -> Response:
        q = Query(request)
        if q.deltatoken is not None:
            version = self._delta_version(table, q.deltatoken)
            n = len(self.data.overlay.changes(table.logical_name, version, self.data.overlay.version))
        else:
            tree = parse_filter(q.filter_text, q.aliases) if q.filter_text else None
            predicate = compile_filter(tree, table) if tree is not None else None
            key_range, predicate = self._key_range(tree, table, predicate)
            n = self._count(table.logical_name, predicate, key_range)
        return Response(str(n).encode(), media_type="text/plain", headers=odata_headers())

    # --- change tracking ---------------------------------------------------------------------------------
    def _require_tracking(self, q: Query, table: Table) -> None:
        if not table.change_tracking:
            raise DataverseError(400, "0x80040203", f"Entity: {table.logical_name} isn't enabled for change tracking.")
        for option, name in (("$filter", "filter"), ("$orderby", "orderby"), ("$expand", "expand"), ("$top", "top")):
            if option in q.params:
                raise DataverseError(
                    400,
                    UNSUPPORTED_QUERY,
                    f'The "${name}" query parameter isn\'t supported when Change Tracking is enabled.',
                )

    def tracking_snapshot(self, q: Query, table: Table) -> Response:
        """Initial sync: every row, paged; the deltaLink appears on the last page only (reference §5.2)."""
        self._require_tracking(q, table)
        page_size = self._page_size(table, q.prefs)
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
        items, more = self._scan_page(name, None, after, page_size)
        head: dict[str, Any] = {"@odata.context": self._context(table, q.select)}
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
        then = self._read_ahead(renderer, items, page_size, renderer.fast and more)
        return self._stream(head, items, tail, renderer, name, self._preference_applied(q, page_size, True), then=then)

    def _delta_version(self, table: Table, token: str) -> int:
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
        self._require_tracking(q, table)
        since = self._delta_version(table, q.deltatoken or "")
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
        page_size = self._page_size(table, q.prefs)
        window = entries[offset : offset + page_size]
        more = offset + page_size < len(entries)
        base = f"{self.api}{table.entity_set}"
        head: dict[str, Any] = {"@odata.context": self._context(table, q.select, "/$delta")}
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
        return self._stream(head, rows, tail, renderer, name, self._preference_applied(q, None, False), gone)

    # --- single records ----------------------------------------------------------------------------------
    def _not_found(self, table: Table, row_id: str) -> DataverseError:
        return DataverseError(404, RECORD_NOT_FOUND, f"{table.logical_name} With Id = {row_id} Does Not Exist")

    def _record_response(
        self, table: Table, item: Item, q: Query, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        expand = resolve_expand(table, q.expand)
        renderer = Renderer(self.data, table, q.select, q.prefs, expand)
        body = renderer.render(item)
        record_rows(1, len(renderer.props))
        context = orjson.dumps({"@odata.context": self._context(table, q.select, "/$entity")})
        merged = context[:-1] + b"," + body[1:]
        hdrs = self._preference_applied(q, None, False)
        hdrs.update(headers or {})
        return Response(merged, status_code=status, media_type=ODATA_JSON, headers=odata_headers(hdrs))

    def retrieve(self, request: Request, table: Table, row_id: str) -> Response:
        q = Query(request)
        self._check_select(table, q.select)
        item = self.data.get(table.logical_name, row_id)
        if item is None:
            raise self._not_found(table, row_id)
        etag = f'W/"{self.data.values(table.logical_name, item).get("versionnumber")}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=odata_headers({"ETag": etag}))
        return self._record_response(table, item, q, headers={"ETag": etag})

    async def _body(self, request: Request) -> Any:
        raw = await request.body()
        try:
            return orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError as exc:
            raise bad_request(f"The request body is not valid JSON: {exc}.") from exc

    def _defaults(self, table: Table, user_index: int, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = dict.fromkeys(self.data.rows[table.logical_name].order)
        user = self.data.org.ref("systemuser", user_index) if "systemuser" in self.data.org.counts else None
        for prop, value in (
            ("createdon", now),
            ("modifiedon", now),
            ("_createdby_value", user),
            ("_modifiedby_value", user),
            ("_ownerid_value", user),
            ("_owninguser_value", user),
            ("_owningbusinessunit_value", self.data.org.ref("businessunit", 0)),
            ("statecode", 0),
        ):
            if prop in table.by_prop:
                values[prop] = value
        status = table.by_prop.get("statuscode")
        state = table.by_prop.get("statecode")
        if status is not None and state is not None:
            values["statuscode"] = next((o.default_status for o in state.options if o.value == 0), 1)
        return values

    def _finish(self, table: Table, values: dict[str, Any]) -> None:
        """Keep derived columns coherent: currency defaults, money ``_base`` twins, owning user/team."""
        money = [c for c in table.columns if c.type_name == "MoneyType" and c.money_base_of is None]
        if money and "_transactioncurrencyid_value" in table.by_prop:
            if values.get("_transactioncurrencyid_value") is None and any(
                values.get(c.prop) is not None for c in money
            ):
                values["_transactioncurrencyid_value"] = self.data.org.ref("transactioncurrency", 0)
            currency = values.get("_transactioncurrencyid_value")
            if currency is not None:
                item = self.data.get("transactioncurrency", currency)
                rate = self.data.view("transactioncurrency", item).get("exchangerate") if item is not None else 1
                values["exchangerate"] = Decimal(str(rate or 1)).quantize(Decimal("0.0000000001"))
                for c in money:
                    base = f"{c.prop}_base"
                    if base in table.by_prop:
                        amount = values.get(c.prop)
                        values[base] = (
                            None if amount is None else (amount / values["exchangerate"]).quantize(Decimal("0.0001"))
                        )
        owner = values.get("_ownerid_value")
        if owner is not None and "_owninguser_value" in table.by_prop:
            is_team = self.data.table_of_id(owner, ("systemuser", "team")) == "team"
            values["_owninguser_value"] = None if is_team else owner
            values["_owningteam_value"] = owner if is_team else None

    async def create(self, request: Request, table: Table, user_index: int) -> Response:
        q = Query(request)
        self._check_select(table, q.select)
        payload = parse_payload(self.data, table, await self._body(request))
        name = table.logical_name
        row_id = payload.pop(table.primary_id, None) or self.data.new_id(name)
        if self.data.get(name, row_id) is not None:
            raise DataverseError(412, "0x80040237", "A record with matching key values already exists.")
        now = self.data.now()
        values = self._defaults(table, user_index, now)
        values.update(payload)
        values[table.primary_id] = row_id
        version_images(table, payload, values, now)
        self._finish(table, values)
        self.data.write(name, row_id, values)
        location = f"{self.api}{table.entity_set}({row_id})"
        if q.prefs.representation:
            return self._record_response(
                table, values, q, 201, {"Preference-Applied": "return=representation", "OData-EntityId": location}
            )
        return Response(status_code=204, headers=odata_headers({"OData-EntityId": location}))

    async def update(self, request: Request, table: Table, row_id: str, user_index: int) -> Response:
        q = Query(request)
        self._check_select(table, q.select)
        payload = parse_payload(self.data, table, await self._body(request))
        name = table.logical_name
        item = self.data.get(name, row_id)
        if_match = request.headers.get("if-match")
        if item is None:
            if if_match is not None:
                raise self._not_found(table, row_id)
            return await self._upsert_create(request, table, row_id, payload, user_index, q)
        if request.headers.get("if-none-match") == "*":
            raise DataverseError(412, "0x80040237", "A record with matching key values already exists.")
        current = dict(self.data.values(name, item))
        if if_match not in (None, "*") and if_match != f'W/"{current.get("versionnumber")}"':
            raise DataverseError(
                412, "0x80060882", "The version of the existing record doesn't match the RowVersion property provided."
            )
        payload.pop(table.primary_id, None)
        current.update(payload)
        if "modifiedon" in table.by_prop:
            current["modifiedon"] = self.data.now()
        if "_modifiedby_value" in table.by_prop:
            current["_modifiedby_value"] = self.data.org.ref("systemuser", user_index)
        version_images(table, payload, current, self.data.now())
        self._finish(table, current)
        self.data.write(name, row_id, current)
        location = f"{self.api}{table.entity_set}({row_id})"
        if q.prefs.representation:
            return self._record_response(
                table, current, q, 200, {"Preference-Applied": "return=representation", "OData-EntityId": location}
            )
        return Response(status_code=204, headers=odata_headers({"OData-EntityId": location}))

    async def _upsert_create(
        self, request: Request, table: Table, row_id: str, payload: dict[str, Any], user_index: int, q: Query
    ) -> Response:
        values = self._defaults(table, user_index, self.data.now())
        values.update(payload)
        values[table.primary_id] = row_id
        version_images(table, payload, values, self.data.now())
        self._finish(table, values)
        self.data.write(table.logical_name, row_id, values)
        location = f"{self.api}{table.entity_set}({row_id})"
        if q.prefs.representation:
            return self._record_response(
                table, values, q, 201, {"Preference-Applied": "return=representation", "OData-EntityId": location}
            )
        return Response(status_code=204, headers=odata_headers({"OData-EntityId": location}))

    def delete(self, table: Table, row_id: str) -> Response:
        if self.data.get(table.logical_name, row_id) is None:
            raise self._not_found(table, row_id)
        self.data.write(table.logical_name, row_id, None)
        return Response(status_code=204, headers=odata_headers())


def iter_chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
