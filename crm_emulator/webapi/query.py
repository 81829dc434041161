"""A request's OData query options, parsed and checked once, and what every answer derives from them."""

from __future__ import annotations

from urllib.parse import unquote

from starlette.requests import Request

from crm_emulator.errors import UNSUPPORTED_QUERY, DataverseError, bad_request, property_not_found, unsupported
from crm_emulator.odata_options import parse_expand, parse_orderby, parse_select
from crm_emulator.prefer import Preferences, parse_prefer
from crm_emulator.schema import Table

KNOWN_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$count", "$expand", "$skiptoken", "$deltatoken"}
REJECTED_OPTIONS = {"$skip", "$search", "$format", "$apply", "$levels", "$compute", "$index", "$schemaversion"}
OTHER_QUERIES = {"fetchXml", "savedQuery", "userQuery", "sql"}


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

    def check_select(self, table: Table) -> None:
        for prop in self.select or []:
            if prop not in table.by_prop:
                raise property_not_found(prop, table.logical_name)

    def page_size(self, table: Table) -> int:
        cap = table.max_page_size
        if self.prefs.max_page_size is None or self.prefs.max_page_size <= 0:
            return cap
        return min(self.prefs.max_page_size, cap)

    def preference_applied(self, page_size: int | None, tracking: bool) -> dict[str, str]:
        applied = []
        if self.prefs.annotations_raw is not None:
            applied.append(f'odata.include-annotations="{self.prefs.annotations_raw}"')
        if page_size is not None and self.prefs.max_page_size is not None:
            applied.append(f"odata.maxpagesize={page_size}")
        if tracking:
            applied.append("odata.track-changes")
        return {"Preference-Applied": ",".join(applied)} if applied else {}

    def context(self, api: str, table: Table, suffix: str = "") -> str:
        sel = f"({','.join(self.select)})" if self.select else ""
        return f"{api}$metadata#{table.entity_set}{sel}{suffix}"
