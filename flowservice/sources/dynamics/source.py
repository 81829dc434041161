"""``DynamicsSource``: the ``SourceClient`` port for one Dynamics 365 / Dataverse connection.

Construction does no I/O (it only checks the parameters' syntax). The first call resolves and checks the
serviceUri's addresses, reads the Entra ID authority from Dataverse's 401 challenge (once per connection),
then works through the per-connection cache: token, concurrency limit, table list and described schemas.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import pyarrow as pa

from flowservice.domain.errors import InvalidRequest, NotFound, SourceRefused
from flowservice.ports import EXPLORING, FRESH_METADATA, SOURCE_OPTIONS, CursorInfo, Page, TableInfo, TableSchema

from . import option_set_table as osm
from .auth import AuthKind, Credentials, TokenProvider, authority_from_challenge
from .batch_get import wide_page_size
from .cache import CACHE, ConnectionCache, connection_key
from .file_contents import Downloads
from .files import FileInfo, file_columns, stored_file_columns
from .http import DataverseHttp
from .labels import ChoiceParams, ChoiceView, choice_view
from .lookups import single_targets, with_names
from .metadata import (
    TableMeta,
    build_schema,
    check_table_name,
    fetch_attributes,
    fetch_table,
    image_columns,
    iter_tables,
)
from .money import with_currency_code
from .option_sets import ChoiceOptions, base_language, check_language, fetch_option_sets, fingerprint
from .org import org_identity
from .partitions import PARTITIONED, partitioned_read
from .read_plan import ReadPlan, plan_read
from .reader import DEFAULT_DELTA_COLUMN, Reader, cursor_info
from .settings import DynamicsSettings
from .uri import parse_service_uri, resolve_checked

log = logging.getLogger(__name__)
LABELS_KEY = "labels"  # the cursor's digest of the labels its rows carry (``option_sets.fingerprint``)
RELABEL = {"mode": "relabel"}  # not a reader mode: every read mode takes it as "read in full, as a resync"
RELABEL_REASON = "A choice label this flow lands was renamed in the org, so every row gets the new one."

REQUIRED = {
    "basic": ("serviceUri", "username", "password"),
    "service_principal": ("serviceUri", "servicePrincipalId", "servicePrincipalKey"),
}


def credentials_from(params: Mapping[str, Any], auth_kind: AuthKind, settings: DynamicsSettings) -> Credentials:
    if auth_kind not in REQUIRED:
        raise InvalidRequest(f"Unknown Dynamics authentication kind {auth_kind!r}")
    missing = [k for k in REQUIRED[auth_kind] if not isinstance(params.get(k), str) or not params[k].strip()]
    if missing:
        raise InvalidRequest(f"Missing Dynamics connection parameter(s): {', '.join(missing)}")
    if auth_kind == "basic":
        return Credentials("basic", settings.public_client_id, str(params["username"]).strip(), str(params["password"]))
    return Credentials(
        "service_principal", str(params["servicePrincipalId"]).strip(), None, str(params["servicePrincipalKey"])
    )


def _with_throttling(pages: Iterator[Page], http: DataverseHttp) -> Iterator[Page]:
    """``pages``, each with the 429s answered (and the seconds waited for them) since the page before."""
    seen, waited = http.throttling.totals()
    try:
        for page in pages:
            requests, seconds = http.throttling.totals()
            if requests != seen:
                page = replace(page, throttled_requests=requests - seen, throttled_seconds=seconds - waited)
                seen, waited = requests, seconds
            yield page
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _shaped(
    pages: Iterator[Page],
    view: ChoiceView,
    names: list[str],
    labels: dict[str, dict[int, str]],
    stamp: str | None,
    reason: str | None = None,
) -> Iterator[Page]:
    """``pages`` in the view's columns, each cursor carrying the labels' digest (when labels are on), and
    ``reason`` on the pages of a read restarted because labels changed."""
    try:
        for page in pages:
            cursor = {**page.cursor, LABELS_KEY: stamp} if stamp is not None else page.cursor
            why = page.resync_reason or (reason if page.full_resync else None)
            yield replace(page, batch=view.apply(page.batch, names, labels), cursor=cursor, resync_reason=why)
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


class DynamicsSource:
    def __init__(
        self,
        params: Mapping[str, Any],
        *,
        auth_kind: AuthKind,
        settings: DynamicsSettings,
        connection_id: str | None = None,
        cache: ConnectionCache = CACHE,
    ) -> None:
        self.settings = settings
        self._credentials = credentials_from(params, auth_kind, settings)
        self._uri = parse_service_uri(params.get("serviceUri"))
        options = params.get(SOURCE_OPTIONS)
        options = options if isinstance(options, Mapping) else {}  # the source connection's (or explore's)
        self._lookup_names = bool(options.get("lookupNames"))
        self._download_files = options.get("downloadFiles") is True  # file contents into the lake
        self._fresh = params.get(FRESH_METADATA) is True  # a run's client: its schemas are read, not cached
        self._read_now: set[str] = set()  # tables this client described from fresh metadata already
        self._metadata_ttl = settings.metadata_ttl_seconds  # how old cached metadata this client takes
        if params.get(EXPLORING) is True:  # an explore: the org as it is now, give or take a screen's calls
            self._metadata_ttl = min(self._metadata_ttl, settings.explore_metadata_seconds)
        self.connection_key = connection_key(params, auth_kind, connection_id or params.get("_connectionId"))
        self.choices = ChoiceParams.parse(options)
        self._option_set_tables = osm.option_set_tables(options.get("optionSetTables"))
        self._cache = cache
        self._http: DataverseHttp | None = None
        self._lock = threading.Lock()  # one session even if threads share this source

    # ------------------------------------------------------------------------------------------- port
    def check(self) -> None:
        """Token from Entra ID, then WhoAmI (which also carries the server's recommended parallelism)."""
        http = self._session()
        assert http.tokens is not None
        http.tokens.token()
        response = http.get(http.url("WhoAmI"))
        hint = response.headers.get("x-ms-dop-hint")
        if hint and hint.isdigit():
            http.limiter.hint(int(hint))

    def list_tables(self) -> Iterator[TableInfo]:
        cached = self._cache.tables(self.connection_key, self._metadata_ttl)
        if cached is not None:
            yield from (meta.info for meta in cached)
        else:
            collected: list[TableMeta] = []
            for meta in iter_tables(self._session()):
                collected.append(meta)
                yield meta.info
            self._cache.put_tables(self.connection_key, collected)
        yield osm.INFO

    def describe(self, table: str) -> TableSchema:
        if osm.is_option_set_table(table):
            return osm.SCHEMA
        view = self._view(table)
        if self.choices.language is not None:
            self._language()  # a language the org lacks is refused here, when a source connection is created
        return view.schema

    def omitted_columns(self, table: str) -> tuple[tuple[str, str], ...]:
        """``(attribute, reason)`` for each attribute ``describe`` left out, by the documented rules."""
        if osm.is_option_set_table(table):
            return ()
        return self._describe(table)[1].omitted

    def preview(self, table: str, columns: list[str] | None, count: int) -> pa.Table:
        if osm.is_option_set_table(table):
            fetch = lambda name: self._option_sets(name, osm.ALL_CHOICE_TYPES, fresh=False)  # noqa: E731
            return osm.preview(self._labelled_tables(), fetch, columns, max(1, min(int(count), 5000)))
        schema, meta = self._describe(table)
        view = choice_view(schema, self.choices)
        count = max(1, min(int(count), meta.max_page_size))
        plan = plan_read(schema, meta, view.wire_columns(columns), count)
        preview = self._reader(plan).preview(count)
        files = file_columns(plan.out)
        if files and preview.num_rows:
            info = FileInfo(self._session(), files)
            preview = pa.Table.from_batches([info.fill(b) for b in preview.to_batches()], schema=preview.schema)
        if view.schema.columns == schema.columns:
            return preview
        names = view.out_names(columns)
        labels = self._labels(view, names, fresh=False)[0]
        shaped = [view.apply(batch, names, labels) for batch in preview.to_batches()]
        return pa.Table.from_batches(shaped, schema=pa.schema([view.schema.arrow_schema().field(n) for n in names]))

    def read(
        self,
        table: str,
        columns: list[str] | None,
        cursor: dict[str, Any] | None,
        *,
        delta_column: str | None = None,
        page_size: int = 5000,
    ) -> Iterator[Page]:
        if osm.is_option_set_table(table):
            fetch = lambda name: self._option_sets(name, osm.ALL_CHOICE_TYPES, fresh=True)  # noqa: E731
            yield from osm.read_pages(self._labelled_tables(), fetch, columns, cursor)
            return
        schema, meta = self._describe(table)
        view = choice_view(schema, self.choices)
        names = view.out_names(columns)
        labels, stamp = self._labels(view, names, fresh=True)  # this run's labels, fresh from the org
        relabelled: str | None = None
        if cursor is not None and LABELS_KEY in cursor:
            old = cursor.get(LABELS_KEY)
            cursor = {k: v for k, v in cursor.items() if k != LABELS_KEY}
            if stamp is not None and old != stamp:  # a label changed in the org: the rows are read again
                log.info("choice labels of %s changed in the org: reading it in full to rewrite them", table)
                cursor, relabelled = dict(RELABEL), RELABEL_REASON
        watermark = None if meta.info.change_tracking else (delta_column or DEFAULT_DELTA_COLUMN)
        wire = view.wire_columns(columns)
        page_size = wide_page_size(page_size, len(wire) if wire is not None else len(schema.columns))
        plan = plan_read(schema, meta, wire, page_size, watermark)
        reader = self._reader(plan)
        partitioned = partitioned_read(reader, schema, cursor)
        if partitioned is not None and partitioned.start():
            pages = partitioned.pages()
        else:
            pages = reader.read(cursor, delta_column)
        files, downloads = file_columns(plan.out), None
        wanted, images = stored_file_columns(plan.out), image_columns(meta.omitted, plan.out)
        if self._download_files and (wanted or images) and schema.table.primary_key:
            downloads = Downloads.of(reader.http, meta.info.entity_set, schema.table.primary_key, wanted, images)
            files = list(dict.fromkeys([*files, *wanted]))
        if files or downloads is not None:
            pages = FileInfo(reader.http, files, downloads).pages(pages)
        pages = _with_throttling(pages, reader.http)
        if view.schema.columns == schema.columns:  # no labels, no multi-select list: the pages as they come
            yield from pages
            return
        yield from _shaped(pages, view, names, labels, stamp, relabelled)

    def cursor_info(self, cursor: dict[str, Any]) -> CursorInfo:
        if cursor.get("mode") == osm.MODE:
            return osm.cursor_info(cursor)
        if cursor.get("mode") == PARTITIONED:
            return CursorInfo(mid_read=True)
        return cursor_info(cursor)

    def account_identity(self) -> dict[str, str]:
        """The org's id and version now (``org.py``): a change makes the run read in full."""
        return org_identity(self._session(), with_version=self.settings.resync_on_org_version)

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def invalidate_metadata(self) -> None:
        self._cache.invalidate(self.connection_key)

    # ------------------------------------------------------------------------------------------- internals
    def _view(self, table: str) -> ChoiceView:
        return choice_view(self._describe(table)[0], self.choices)

    def _labelled_tables(self) -> list[str]:
        if self._option_set_tables is not None:
            return self._option_set_tables
        return sorted(t.name for t in self.list_tables() if t.name != osm.OPTION_SET_TABLE)

    def _option_sets(self, table: str, types: Any, *, fresh: bool) -> dict[str, ChoiceOptions]:
        """The options of ``table``'s choice columns of ``types``: cached for explore, ``fresh`` for a run."""
        name = f"options:{table}:{','.join(sorted(types))}"
        ttl = self._metadata_ttl
        hit = None if fresh else self._cache.choices(self.connection_key, name, ttl)
        if hit is None:
            hit = fetch_option_sets(self._session(), check_table_name(table), types)
            self._cache.put_choices(self.connection_key, name, hit)
        return dict(hit)

    def _language(self) -> int | None:
        """The label language: the params' (checked once against the org's languages) or the org's base one."""
        ttl = self._metadata_ttl
        chosen = self.choices.language
        name = f"language:{chosen}"
        hit = self._cache.choices(self.connection_key, name, ttl)
        if hit is None:
            http = self._session()
            if chosen is None:
                hit = (base_language(http),)
            else:
                check_language(http, chosen)
                hit = (chosen,)
            self._cache.put_choices(self.connection_key, name, hit)
        language: int | None = hit[0]
        return language

    def _labels(
        self, view: ChoiceView, names: list[str], *, fresh: bool
    ) -> tuple[dict[str, dict[int, str]], str | None]:
        """value → label of each choice column whose label is among ``names``, and the digest a cursor keeps of
        them; nothing (and no request) when no label column is read."""
        parents = {view.parents[n] for n in names if n in view.parents}
        if not parents:
            return {}, None
        types = {c.original_type for c in view.base.columns if c.name in parents}
        sets = self._option_sets(view.base.table.name, types, fresh=fresh)
        used = {name: sets[name] for name in sorted(parents) if name in sets}
        language = self._language()
        return {name: o.in_language(language) for name, o in used.items()}, fingerprint(used, language)

    def _reader(self, plan: ReadPlan) -> Reader:
        return Reader(self._session(), plan, self._cache.unselectable(self.connection_key, plan.table))

    def _session(self) -> DataverseHttp:
        with self._lock:
            return self._http or self._open()

    def _open(self) -> DataverseHttp:
        """Check the serviceUri's addresses (before any request), then find the authority and a token source."""
        s = self.settings
        resolve_checked(self._uri.host, self._uri.port, allow_private=s.allow_private_addresses, resolver=s.resolver)
        http = DataverseHttp(self._uri, s, self._cache.limiter(self.connection_key, s.max_concurrency))
        try:
            http.tokens = self._tokens(http)
        except BaseException:
            http.close()
            raise
        self._http = http
        return http

    def _tokens(self, http: DataverseHttp) -> TokenProvider:
        known = self._cache.authorities(self.connection_key)
        if known:
            authority = known[0]
        else:
            try:
                challenge = http.challenge()
            except NotFound:
                raise SourceRefused(
                    f"{self._uri.origin} does not serve the Dataverse Web API (/api/data/v9.2/ was not found)"
                ) from None
            if challenge.status_code != 401:
                raise SourceRefused(
                    f"{self._uri.origin} answered {challenge.status_code} without authentication instead of a "
                    "Dataverse bearer challenge"
                )
            authority = authority_from_challenge(
                challenge.headers.get("WWW-Authenticate"), self.settings.authority_hosts
            )
        return self._cache.token_provider(
            self.connection_key,
            authority,
            lambda: TokenProvider(authority, self._credentials, self._uri.origin, self.settings),
        )

    def _describe(self, table: str) -> tuple[TableSchema, TableMeta]:
        """The table's schema (cached per connection) with what this source connection's options add."""
        schema, meta = self._described(table)
        return (with_names(schema) if self._lookup_names else schema), meta

    def _described(self, table: str) -> tuple[TableSchema, TableMeta]:
        name = check_table_name(table)
        hit = self._cache.schema(self.connection_key, name, self._metadata_ttl)
        if hit is not None and (not self._fresh or name in self._read_now):
            return hit
        http = self._session()
        listed = self._cache.tables(self.connection_key, self._metadata_ttl)
        meta = next((m for m in listed or () if m.info.name == name), None) or fetch_table(http, name)
        attributes, details = fetch_attributes(http, name)
        schema, omitted = build_schema(meta.info, attributes, details, lookup_targets=self.settings.lookup_targets)
        schema = with_currency_code(schema)
        targets = tuple(sorted(single_targets(schema, attributes, details).items()))
        meta = TableMeta(info=meta.info, table_type=meta.table_type, omitted=omitted, single_targets=targets)
        self._cache.put_schema(self.connection_key, name, schema, meta)
        self._read_now.add(name)
        return schema, meta
