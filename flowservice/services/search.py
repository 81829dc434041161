"""``POST /connections/search``, ``POST /flows/search`` and ``POST /flowSpecs/search``: a list endpoint's query
sent as a JSON body, answered by the very ``list`` the ``GET`` listing calls (no second filter engine).

**The bodies**, as Adobe's Flow Service swagger defines them (``AdobeDocs/experience-platform-apis``,
``static/swagger-specs/flow-service.yaml``, ``components.schemas``; the operations ``getConnectionsByFilters``,
``getFlowsByFilters`` and ``searchFlowSpecs`` take ``continuationToken`` as a query parameter, and
``getFlowsByFilters`` the header ``x-active-sandbox-ids``):

- ``ConnectionFilterRequest``: ``queryString`` (string), ``limit`` (int32, ``maximum: 1000``), ``orderby``
  (string), ``count`` (boolean);
- ``FlowFilterRequest``: the same and ``projectionFields`` (string);
- ``FlowSpecFilterRequest``: the same as flows and ``groupByProperty`` (string).

The swagger gives types only; no Adobe page shows a search body. What this server makes of them:

- ``queryString`` is the query string of the ``GET`` listing's filters, ``property=state==enabled&property=
  connectionSpec.id==…`` (URL-decoded as a query string is, so ``%26`` is a literal ``&``): a search answers
  what ``GET /{collection}?{queryString}&orderby=…&limit=…&count=…`` answers, item for item, token for token.
  It holds ``property`` filters only; ``orderby``, ``limit`` and ``count`` are fields of the body.
- ``limit``, ``orderby``, ``count`` and ``continuationToken`` mean what they mean on ``GET`` (1..1000, ``+name``
  / ``-name``, count alone, the token of ``_links.next``), with the same errors (1401, 1433, 1452, 1453…).
  ``_links.next.href`` points at the search (``/flows/search?continuationToken=…``): send the same body again.
- ``projectionFields``: a comma list of top-level fields; each item keeps only those it has.
- ``groupByProperty``: its grouping is documented nowhere, so it is refused by name (400) rather than guessed.
- ``x-active-sandbox-ids`` (flows): a comma list of sandboxes of the caller's org to search (a sandbox's id is
  its name here); without it, the caller's ``x-sandbox-name``. A sandbox the org does not have is refused
  (404, 2100), naming it; another org's resources are never read (each sandbox is a ``Tenant`` of the caller's
  org). Over several sandboxes the answer is the union in the listing's order (the newest first, or
  ``orderby``), paged by the same tokens; Adobe refuses ``orderby`` in its ``*`` cross-sandbox query (1424),
  this server orders the union as one collection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import parse_qsl

from flowservice.domain import listing
from flowservice.domain.errors import InvalidRequest, NotFound
from flowservice.domain.tenancy import Caller, Tenant
from flowservice.services.resources import newest_first

CONNECTION_FILTER = ("queryString", "limit", "orderby", "count")
FLOW_FILTER = (*CONNECTION_FILTER, "projectionFields")
FLOW_SPEC_FILTER = (*FLOW_FILTER, "groupByProperty")

_FIELD = re.compile(r"^[A-Za-z0-9_@$:-]+$")
_READ_PAGE = listing.MAX_LIMIT  # documents one ``list`` call answers while a union gathers its pages


class Listing(Protocol):
    """What a search calls: the ``list`` of the collection's service (``ResourceService`` and its kinds)."""

    def list(self, tenant: Tenant, params: Iterable[tuple[str, str]], /) -> dict[str, Any]: ...


class Sandboxes(Protocol):
    """Which sandboxes an org has (``services/identity.IdentityService``)."""

    def sandbox_exists(self, org: str, sandbox: str) -> bool: ...


@dataclass(frozen=True)
class Search:
    """A parsed filter body: the ``GET`` listing's parameters, and the fields each item keeps (None: all)."""

    params: tuple[tuple[str, str], ...]
    projection: tuple[str, ...] | None = None

    @property
    def filters(self) -> tuple[tuple[str, str], ...]:
        return tuple(p for p in self.params if p[0] == "property")


def parse(body: object, fields: Sequence[str], name: str, continuation: str | None) -> Search:
    """The ``name`` body (its ``fields``) and the query's ``continuationToken`` as listing parameters; 400s
    name the offending field."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"The {name} body must be a JSON object with the fields {', '.join(fields)}.")
    unknown = sorted(str(k) for k in body if k not in fields)
    if unknown:
        raise InvalidRequest(
            f"Unknown field {', '.join(repr(u) for u in unknown)} in the {name} body; its fields are "
            f"{', '.join(fields)}.",
            code="1451",
        )
    params: list[tuple[str, str]] = list(_query_string(body.get("queryString")))
    orderby = body.get("orderby")
    if orderby is not None:
        params.append(("orderby", _text(orderby, "orderby")))
    limit = body.get("limit")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidRequest(
                f"The field 'limit' must be an integer between 1 and {listing.MAX_LIMIT}.", code="1452"
            )
        params.append(("limit", str(limit)))
    count = body.get("count")
    if count is not None:
        if not isinstance(count, bool):
            raise InvalidRequest("The field 'count' must be a boolean (true or false).")
        if count:
            params.append(("count", "true"))
    if body.get("groupByProperty") is not None:
        raise InvalidRequest(
            "The field 'groupByProperty' is not supported by this server (its grouping is not documented); "
            "filter with queryString, or count with count: true.",
            code="1451",
        )
    if continuation is not None:
        params.append(("continuationToken", continuation))
    search = Search(tuple(params), _projection(body.get("projectionFields")))
    listing.parse_list_query(search.params)  # the listing's own checks (limit with count, orderby, token…)
    return search


def tenants(caller: Caller, header: Sequence[str], sandboxes: Sandboxes) -> list[Tenant]:
    """The tenants ``x-active-sandbox-ids`` names (``header``: each value it was sent with), in the caller's
    org; the caller's own tenant when it is absent."""
    if not header:
        return [caller.tenant]
    if len(header) > 1:
        raise InvalidRequest(
            "The header 'x-active-sandbox-ids' is sent more than once; send one comma-separated list.",
            title="Repeated header",
        )
    names: list[str] = []
    for part in header[0].split(","):
        name = part.strip().lower()
        if not name:
            raise InvalidRequest(
                "The header 'x-active-sandbox-ids' names an empty sandbox; send sandbox names separated by commas "
                "(e.g. prod,dev)."
            )
        if name not in names:
            names.append(name)
    org = caller.tenant.org
    for name in names:
        if not sandboxes.sandbox_exists(org, name):
            raise NotFound(
                f"The sandbox '{name}' named in the header x-active-sandbox-ids could not be found in the "
                f"organization {org}; name sandboxes of your organization.",
                code="2100",
                title="Sandbox not found",
            )
    return [Tenant(org, name) for name in names]


def run(service: Listing, kind: str, scope: Sequence[Tenant], search: Search) -> dict[str, Any]:
    """The listing of ``kind`` over the tenants of ``scope``: one tenant's is its ``list`` answer; several
    tenants' the union of theirs in the same order, sliced by the same offsets."""
    if len(scope) == 1:
        answer = service.list(scope[0], search.params)
    else:
        answer = _union(service, kind, scope, search)
    return shaped(answer, kind, search.projection)


def shaped(answer: dict[str, Any], kind: str, projection: tuple[str, ...] | None) -> dict[str, Any]:
    """A listing answer as a search answers it: projected items, and the next page's link on the search."""
    if projection is not None and "items" in answer:
        answer = {**answer, "items": [{k: item[k] for k in projection if k in item} for item in answer["items"]]}
    following = answer.get("_links", {}).get("next")
    if following:
        token = following["href"].partition("continuationToken=")[2]
        href = f"/{kind}/search?continuationToken={token}"
        answer = {**answer, "_links": {**answer["_links"], "next": {"href": href}}}
    return answer


def _union(service: Listing, kind: str, scope: Sequence[Tenant], search: Search) -> dict[str, Any]:
    query = listing.parse_list_query(search.params)
    ordering = tuple(p for p in search.params if p[0] == "orderby")
    if query.count_only:
        total = sum(int(service.list(t, (*search.filters, ("count", "true")))["count"]) for t in scope)
        return {"count": total}
    # the union's first ``end`` documents are among each tenant's first ``end``, in the order all of them share
    end = query.offset + query.limit
    gathered: list[dict[str, Any]] = []
    for tenant in scope:
        gathered += _first(service, tenant, (*search.filters, *ordering), end)
    page = listing.apply(replace(query, filters=()), gathered, default_order=newest_first)
    links: dict[str, Any] = {}
    if page.next_offset is not None:
        links["next"] = {"href": f"/{kind}?continuationToken={listing.encode_token(page.next_offset)}"}
    return {"items": page.items, "_links": links}


def _first(service: Listing, tenant: Tenant, params: tuple[tuple[str, str], ...], count: int) -> list[dict[str, Any]]:
    """The first ``count`` documents of one tenant's listing, page after page of its own ``list``."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while len(items) < count:
        page_params = (*params, ("limit", str(min(_READ_PAGE, count - len(items)))))
        if token is not None:
            page_params = (*page_params, ("continuationToken", token))
        answer = service.list(tenant, page_params)
        items += answer["items"]
        following = answer.get("_links", {}).get("next")
        if not following:
            break
        token = following["href"].partition("continuationToken=")[2]
    return items


def _query_string(value: object) -> list[tuple[str, str]]:
    if value is None:
        return []
    text = _text(value, "queryString")
    pairs = parse_qsl(text, keep_blank_values=True)
    for key, _ in pairs:
        if key != "property":
            raise InvalidRequest(
                f"The queryString holds only property filters, as the GET listing's query string does "
                f"(property=state==enabled&property=name==Accounts); got the parameter '{key}'. Send orderby, "
                "limit and count as fields of the body.",
                code="1451",
            )
    return pairs


def _projection(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(n.strip() for n in _text(value, "projectionFields").split(","))
    bad = [n for n in names if not _FIELD.match(n)]
    if bad:
        raise InvalidRequest(
            f"The field 'projectionFields' must be a comma list of top-level field names (e.g. id,name,state); "
            f"got {', '.join(repr(b) for b in bad)}.",
            code="1449",
        )
    return names


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"The field '{field}' must be a string.")
    return value
