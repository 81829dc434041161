"""Reading a table page by page, with a resumable cursor after every page.

Change-tracked tables: ``Prefer: odata.track-changes`` on the initial read (a full snapshot paged by
``@odata.nextLink``), then ``@odata.deltaLink`` for the next run; delta pages carry upserts and
``$deletedEntity`` ids. An expired version stamp (``0x80044352``) restarts a full read whose pages say
``full_resync``. Other tables: a ``modifiedon`` (or other date-time/integer) watermark with an inclusive lower
bound, ordered by ``modifiedon, <pk>`` (the engine dedups on the key). Tables with neither are read in full
each run. Links are followed verbatim but only on the organization's own origin.

Pages are decoded from their raw bytes by ``convert.PageDecoder`` and, during a read, fetched ahead of their
conversion by ``readahead.ReadAhead`` (``read_ahead_pages`` of the settings; 0 turns it off). Memory is the page
being converted plus the pages fetched ahead; a page's bytes are dropped as soon as it is decoded.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc

from flowservice.domain.errors import InvalidRequest, SourceRefused
from flowservice.ports import Column, CursorInfo, Page

from .convert import DecodedPage, PageDecoder, next_link_hint, select_names
from .derived import Derive
from .errors import DeltaTokenExpired
from .http import DataverseHttp, Received, query_string
from .read_plan import ReadPlan
from .readahead import Key, ReadAhead, chain_key
from .uri import same_origin

log = logging.getLogger(__name__)
_MISSING_PROPERTY = re.compile(r"Could not find a property named '([^']+)'")
DEFAULT_DELTA_COLUMN = "modifiedon"


class Reader:
    """``unselectable`` (shared per connection and table) collects properties that metadata calls readable but
    the Web API does not know (``Could not find a property named 'x'``): they are dropped from ``$select``
    when a chain starts, and their column stays in the schema, null, with a warning in the log."""

    MAX_DROPPED = 20

    def __init__(
        self,
        http: DataverseHttp,
        plan: ReadPlan,
        unselectable: set[str] | None = None,
        decoding: threading.Semaphore | None = None,
    ) -> None:
        self.http = http
        self.decoding = decoding  # shared by readers of one partitioned read: pages decoded at once
        self.limited = True  # requests wait for the connection's limiter (False: a partitioned read's key scan)
        self.plan = plan
        self.unselectable = unselectable if unselectable is not None else set()
        self.decoder = PageDecoder(plan.fetch, plan.table)
        self.derive = Derive(plan.meta, plan.derived, http) if plan.derived else None
        self.ahead: ReadAhead | None = None
        self._preference_applied: str | None = None
        self.dop_hint: str | None = None  # the last answer's ``x-ms-dop-hint``
        self.elapsed: float | None = None  # seconds from the last answer's request sent to its body read

    # ---------------------------------------------------------------------------------------------- entry
    def read(self, cursor: dict[str, Any] | None, delta_column: str | None) -> Iterator[Page]:
        depth = self.http.settings.read_ahead_pages
        self.ahead = ReadAhead(self._fetch_ahead, depth) if depth > 0 else None
        try:
            yield from self._read(cursor or {}, delta_column)
        finally:
            if self.ahead is not None:
                self.ahead.close()
                log.debug(
                    "read of %s: %d pages fetched ahead, %d guesses missed; %d pages decoded by Arrow, %d exactly",
                    self.plan.table,
                    self.ahead.hits,
                    self.ahead.misses,
                    self.decoder.fast_pages,
                    self.decoder.exact_pages,
                )
                self.ahead = None

    def _read(self, cursor: dict[str, Any], delta_column: str | None) -> Iterator[Page]:
        mode = cursor.get("mode")
        if self.plan.meta.info.change_tracking:
            if mode == "changes" and (cursor.get("delta_link") or cursor.get("next_link")):
                next_link = cursor.get("next_link")  # the middle of a chain keeps its shape
                link = (
                    str(next_link)
                    if next_link
                    else with_select(str(cursor["delta_link"]), self.plan.select(self.unselectable))
                )
                yield from self._changes(link, bool(cursor.get("full_resync")), int(cursor.get("page_size") or 0))
            else:  # first run, or a table that gained change tracking since the last (watermark) run
                yield from self._changes(None, mode is not None, 0)
            return
        column = delta_column or DEFAULT_DELTA_COLUMN
        if not any(c.name == column for c in self.plan.fetch):
            if delta_column:
                raise InvalidRequest(f"The delta column {delta_column} is not a column of {self.plan.table}")
            yield from self._full(cursor)
            return
        yield from self._watermark(cursor, column)

    def page(
        self,
        link: str | None,
        build: Callable[[], str],
        prefer: list[str],
        headers: dict[str, str] | None = None,
        *,
        deletes: bool = False,
    ) -> tuple[DecodedPage, int]:
        """One page of a chain this reader's caller drives itself (``partitions.py``): ``link`` verbatim, or
        ``build()`` to start one; the decoded page and the size of its body."""
        return self._get(link, build, prefer, headers, deletes=deletes)

    def url(self, params: dict[str, str]) -> str:
        """The table's URL with this plan's ``$select`` and ``params``."""
        return self._url(params)

    def out(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """A decoded batch restricted to the columns the read hands back."""
        return self._out(batch)

    def preview(self, count: int) -> pa.Table:
        page, _ = self._get(None, lambda: self._url({"$top": str(count)}), self.plan.prefer())
        return pa.Table.from_batches([self._out(page.batch)])

    # ------------------------------------------------------------------------------------ change tracking
    def _initial_changes_url(self) -> str:
        return self._url({})

    def _changes(self, url: str | None, full_resync: bool, page_size: int) -> Iterator[Page]:
        """``url`` None starts a new chain (the initial full read); otherwise it is a link from a cursor."""
        plan = self.plan
        size = page_size or plan.page_size  # a chain keeps the page size it started with
        prefer = plan.prefer("odata.track-changes", page_size=size)
        restarted = False
        reason: str | None = None
        while True:
            try:
                page, size_read = self._get(
                    url, self._initial_changes_url, prefer, {"Cache-Control": "no-cache"}, deletes=True
                )
            except DeltaTokenExpired as exc:
                if restarted:
                    raise
                log.warning("change token of %s expired, reading it in full: %s", plan.table, exc.message)
                url, full_resync, restarted = None, True, True
                reason = f"Dataverse refused the change token of {plan.table} ({exc.message})."
                size, prefer = plan.page_size, plan.prefer("odata.track-changes")
                continue
            next_link, delta_link = page.next_link, page.delta_link
            if next_link:
                cursor: dict[str, Any] = {"mode": "changes", "next_link": next_link, "page_size": size}
                if full_resync:
                    cursor["full_resync"] = True
            elif delta_link:
                cursor = {"mode": "changes", "delta_link": delta_link}
            else:
                raise SourceRefused(
                    f"Dataverse did not return a delta link for {plan.table} although its metadata says change "
                    f"tracking is enabled (Preference-Applied: {self._preference_applied or 'none'})"
                )
            yield Page(
                batch=self._out(page.batch),
                deleted_keys=page.deleted_keys,
                cursor=cursor,
                final=not next_link,
                full_resync=full_resync,
                resync_reason=reason,
                bytes_read=size_read,
            )
            del page
            if not next_link:
                return
            url = next_link

    # ------------------------------------------------------------------------------------------ watermark
    def _watermark(self, cursor: dict[str, Any], column: str) -> Iterator[Page]:
        plan = self.plan
        col = next(c for c in plan.fetch if c.name == column)
        if not (pa.types.is_timestamp(col.arrow_type) or pa.types.is_integer(col.arrow_type)):
            raise InvalidRequest(f"The delta column {column} must be a date-time or integer column")
        same = cursor.get("mode") == "watermark" and cursor.get("column") == column
        value = cursor.get("value") if same else None
        full_resync = bool(cursor) and not same
        pk = plan.meta.info.primary_key
        params = {"$orderby": f"{column} asc" + (f",{pk} asc" if pk else "")}
        if value is not None:
            params["$filter"] = f"{column} ge {self._literal(col, value)}"
        url = str(cursor["next_link"]) if same and cursor.get("next_link") else None
        while True:
            page, size_read = self._get(url, lambda: self._url(params), plan.prefer())
            value = _later(value, _max(page.batch.column(column)))
            next_link = page.next_link
            page_cursor: dict[str, Any] = {"mode": "watermark", "column": column, "value": value}
            if next_link:
                page_cursor["next_link"] = next_link
            yield Page(
                batch=self._out(page.batch),
                cursor=page_cursor,
                final=not next_link,
                full_resync=full_resync,
                bytes_read=size_read,
            )
            del page
            if not next_link:
                return
            url = next_link

    def _literal(self, column: Column, value: Any) -> str:
        if pa.types.is_integer(column.arrow_type):
            return str(int(value))
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        moment -= dt.timedelta(seconds=self.http.settings.watermark_lookback_seconds)
        return _iso(moment)

    # ----------------------------------------------------------------------------------------------- full
    def _full(self, cursor: dict[str, Any]) -> Iterator[Page]:
        """No change tracking and no date column: every run reads everything (``full_resync`` after the
        first, so the engine can replace the table and drop rows deleted at the source)."""
        plan = self.plan
        resuming = cursor.get("mode") == "full" and cursor.get("next_link")
        full_resync = bool(cursor.get("full_resync")) if resuming else bool(cursor)
        url = str(cursor["next_link"]) if resuming else None
        while True:
            page, size_read = self._get(url, lambda: self._url({}), plan.prefer())
            next_link = page.next_link
            page_cursor: dict[str, Any] = {"mode": "full"}
            if next_link:
                page_cursor.update(next_link=next_link, full_resync=full_resync)
            yield Page(
                batch=self._out(page.batch),
                cursor=page_cursor,
                final=not next_link,
                full_resync=full_resync,
                bytes_read=size_read,
            )
            del page
            if not next_link:
                return
            url = next_link

    # ------------------------------------------------------------------------------------------- helpers
    def _url(self, params: dict[str, str]) -> str:
        return self.http.url(self.plan.meta.info.entity_set, {"$select": self.plan.select(self.unselectable), **params})

    def _get(
        self,
        link: str | None,
        build: Callable[[], str],
        prefer: list[str],
        headers: dict[str, str] | None = None,
        *,
        deletes: bool = False,
    ) -> tuple[DecodedPage, int]:
        """GET ``link`` verbatim (a link from Dataverse or a cursor), or start a chain with ``build()``; a chain
        start drops properties the Web API says it does not have and tries again. Returns the decoded page and
        the size of its body (the body itself is not kept)."""
        decode = self._decoding(prefer, headers, deletes)
        if link is not None:
            if not same_origin(link, self.http.uri):
                raise SourceRefused(f"Refusing to follow a link outside {self.http.uri.origin}: {link[:200]}")
            ahead = self.ahead.take(chain_key(link, prefer, headers)) if self.ahead is not None else None
            page, response = self.http.get_json(
                link,
                prefer=prefer,
                headers=headers,
                decode=decode,
                first=ahead.result if ahead is not None else None,
                limit=self.http.settings.max_page_bytes,
                limited=self.limited,
            )
            return self._done(page, response)
        if self.ahead is not None:
            self.ahead.stop()  # a new chain: nothing fetched before it belongs to it
        for _ in range(self.MAX_DROPPED):
            try:
                page, response = self.http.get_json(
                    build(),
                    prefer=prefer,
                    headers=headers,
                    decode=decode,
                    limit=self.http.settings.max_page_bytes,
                    limited=self.limited,
                )
                return self._done(page, response)
            except SourceRefused as exc:
                missing = _MISSING_PROPERTY.search(exc.message)
                name = missing.group(1) if missing else None
                selectable = set(select_names(self.plan.fetch)) - self.unselectable - {self.plan.meta.info.primary_key}
                if name not in selectable:
                    raise
                assert name is not None
                log.warning(
                    "%s.%s is in metadata but not in the Web API; it will read as null: %s",
                    self.plan.table,
                    name,
                    exc.message,
                )
                self.unselectable.add(name)
        raise SourceRefused(f"Dataverse refused too many columns of {self.plan.table} as unknown properties")

    def _decoding(
        self, prefer: list[str], headers: dict[str, str] | None, deletes: bool
    ) -> Callable[[pa.Buffer], DecodedPage]:
        """Decode a page's body, after starting to fetch the page it names ahead (when reading ahead)."""
        ahead = self.ahead

        def decode(body: pa.Buffer) -> DecodedPage:
            if ahead is not None:
                hint = next_link_hint(body)
                if hint is not None:
                    ahead.follow(chain_key(hint, prefer, headers))
            if self.decoding is None:
                page = self.decoder(body, deletes=deletes)
            else:
                with self.decoding:
                    page = self.decoder(body, deletes=deletes)
            page.size = body.size
            return page

        return decode

    def _done(self, page: DecodedPage, response: httpx.Response) -> tuple[DecodedPage, int]:
        self._preference_applied = response.headers.get("Preference-Applied")
        self.dop_hint = response.headers.get("x-ms-dop-hint")
        try:
            self.elapsed = response.elapsed.total_seconds()
        except RuntimeError:  # a response never read from a connection (a ``$batch`` part) has no elapsed time
            self.elapsed = None
        return page, page.size

    def _fetch_ahead(self, key: Key) -> Received:
        url, prefer, headers = key
        if not same_origin(url, self.http.uri):  # a guess is checked like any link before it gets our token
            raise SourceRefused(f"Refusing to follow a link outside {self.http.uri.origin}: {url[:200]}")
        return self.http.fetch(url, prefer=list(prefer), headers=dict(headers))

    def _out(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self.derive is not None:
            batch = self.derive(batch)  # appended: put in their place below
        elif len(self.plan.out) == len(self.plan.fetch):
            return batch
        return batch.select([c.name for c in self.plan.out])


def with_select(link: str, select: str) -> str:
    """``link`` (a delta link) asking for ``select`` instead of the ``$select`` it was issued with: the token
    is a version stamp, not tied to the columns (verified on the emulator; the partitioned read relies on it
    too), so an incremental read asks for the table's columns as they are now (schema drift: ``drift.py``)."""
    base, _, query = link.partition("?")
    rest = [part for part in query.split("&") if part and not part.startswith("$select=")]
    return f"{base}?{'&'.join([query_string({'$select': select}), *rest])}"


def cursor_info(cursor: dict[str, Any]) -> CursorInfo:
    """What a cursor of ``Reader.read`` means to the engine: a ``next_link`` is the middle of a chain, and a
    watermark's value is the inclusive lower bound the next read starts from (before the lookback)."""
    value = cursor.get("value") if cursor.get("mode") == "watermark" else None
    return CursorInfo(mid_read=bool(cursor.get("next_link")), overlap_until=None if value is None else str(value))


def _iso(moment: dt.datetime) -> str:
    moment = moment.astimezone(dt.UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def _max(array: pa.Array) -> Any:
    scalar = pc.max(array).as_py()
    if scalar is None:
        return None
    return _iso(scalar) if isinstance(scalar, dt.datetime) else int(scalar)


def _later(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, str) or isinstance(b, str):

        def parse(v: Any) -> dt.datetime:
            return dt.datetime.fromisoformat(str(v).replace("Z", "+00:00"))

        return a if parse(a) >= parse(b) else b
    return max(a, b)
