"""A small working fake of Entra ID + the Dataverse Web API, served through ``httpx.MockTransport``.

Enough of the real behaviour for unit tests: the 401 bearer challenge, OpenID discovery and the token endpoint
(ROPC and client credentials, with Entra's error bodies), EntityDefinitions / Attributes / casts, entity sets with
``$select``, ``$filter=<col> ge <value>``, ``$orderby``, ``$top``, ``odata.maxpagesize`` paging through
``@odata.nextLink``, change tracking with delta links and ``$deletedEntity`` items, expired version stamps, and a
fault queue (status + headers + body, or a transport exception).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx
import orjson

ORG = "https://contoso.crm.dynamics.com"
LOGIN = "https://login.microsoftonline.com"
TENANT = "8f3c1e2a-0000-4000-8000-00000000c0de"
USERNAME = "ada@contoso.example"
PASSWORD = "correct horse battery staple"
CLIENT_ID = "b0b0b0b0-1111-4222-8333-444444444444"
CLIENT_SECRET = "s3cr3t~Key.Value"
PUBLIC_IP = "20.50.2.10"

METADATA_CLASS = {
    "DecimalType": "DecimalAttributeMetadata",
    "MoneyType": "MoneyAttributeMetadata",
    "DateTimeType": "DateTimeAttributeMetadata",
    "LookupType": "LookupAttributeMetadata",
    "CustomerType": "LookupAttributeMetadata",
    "OwnerType": "LookupAttributeMetadata",
}
ATTRIBUTE_TYPE = {"MultiSelectPicklistType": "Virtual", "ImageType": "Virtual", "FileType": "Virtual"}


class Raw(str):
    """A JSON number written verbatim (e.g. ``20000.0000``), as Dataverse writes money and decimals."""


@dataclass
class Attr:
    name: str
    type: str  # AttributeTypeName.Value
    extra: dict[str, Any] = field(default_factory=dict)  # Precision, DateTimeBehavior, Targets, AttributeOf...

    def definition(self, pk: str) -> dict[str, Any]:
        return {
            "LogicalName": self.name,
            "AttributeType": ATTRIBUTE_TYPE.get(self.type, self.type.removesuffix("Type")),
            "AttributeTypeName": {"Value": self.type},
            "AttributeOf": self.extra.get("AttributeOf"),
            "IsValidForRead": self.extra.get("IsValidForRead", True),
            "IsPrimaryId": self.name == pk,
            "Description": {"UserLocalizedLabel": {"Label": self.extra.get("Description", "")}},
            "MetadataId": f"md-{self.name}",
        }


@dataclass
class Table:
    name: str
    entity_set: str
    pk: str
    attrs: list[Attr]
    change_tracking: bool = True
    table_type: str = "Standard"
    private: bool = False
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → wire row
    versions: dict[str, int] = field(default_factory=dict)
    deletes: list[tuple[int, str]] = field(default_factory=list)
    not_in_web_api: set[str] = field(default_factory=set)  # in metadata, unknown to $select


@dataclass
class Fault:
    match: str  # substring of the URL
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    times: int = 1
    exception: Exception | None = None


class FakeDataverse:
    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self.requests: list[httpx.Request] = []
        self.faults: list[Fault] = []
        self.tokens: set[str] = set()
        self.version = itertools.count(1000)
        self.current_version = 1000
        self.oldest_delta_version = 0
        self.token_lifetime = 3599
        self.token_requests = 0
        self.entra_echo_password = False  # a hostile/buggy IdP echoing the password in its error description
        self.dop_hint: str | None = "8"

    # ------------------------------------------------------------------------------------ arrange
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def add_table(self, table: Table) -> Table:
        self.tables[table.name] = table
        return table

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        t = self.tables[table]
        key = row[t.pk]
        self.current_version = next(self.version)
        t.rows[key] = {**t.rows.get(key, {}), **row}
        t.versions[key] = self.current_version

    def delete(self, table: str, key: str) -> None:
        t = self.tables[table]
        t.rows.pop(key, None)
        t.versions.pop(key, None)
        self.current_version = next(self.version)
        t.deletes.append((self.current_version, key))

    def fail(
        self,
        match: str,
        status: int = 503,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        exception: Exception | None = None,
    ) -> None:
        raw = orjson.dumps(body) if body is not None and not isinstance(body, bytes) else (body or b"")
        self.faults.append(Fault(match, status, headers or {}, raw, times, exception))

    def api_requests(self, contains: str = "") -> list[httpx.Request]:
        return [r for r in self.requests if r.url.host == "contoso.crm.dynamics.com" and contains in str(r.url)]

    # ------------------------------------------------------------------------------------ serve
    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = str(request.url)
        for fault in self.faults:
            if fault.times > 0 and fault.match in unquote(url):
                fault.times -= 1
                if fault.exception is not None:
                    raise fault.exception
                return httpx.Response(fault.status, headers=fault.headers, content=fault.body)
        if request.url.host == "login.microsoftonline.com":
            return self._entra(request)
        return self._api(request)

    def _entra(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            return _json(
                {
                    "issuer": f"{LOGIN}/{TENANT}/v2.0",
                    "authorization_endpoint": f"{LOGIN}/{TENANT}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{LOGIN}/{TENANT}/oauth2/v2.0/token",
                }
            )
        if path == "/common/discovery/instance":
            return _json(
                {
                    "tenant_discovery_endpoint": f"{LOGIN}/{TENANT}/v2.0/.well-known/openid-configuration",
                    "api-version": "1.1",
                    "metadata": [
                        {
                            "preferred_network": "login.microsoftonline.com",
                            "preferred_cache": "login.windows.net",
                            "aliases": ["login.microsoftonline.com", "login.windows.net"],
                        }
                    ],
                }
            )
        if "/userrealm/" in path:
            return _json({"account_type": "Managed", "ver": "1.0"})
        if path.endswith("/oauth2/v2.0/token"):
            self.token_requests += 1
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            ok = (
                form.get("grant_type") == "password"
                and form.get("username") == USERNAME
                and form.get("password") == PASSWORD
            ) or (
                form.get("grant_type") == "client_credentials"
                and form.get("client_id") == CLIENT_ID
                and form.get("client_secret") == CLIENT_SECRET
            )
            if form.get("scope", "").split()[0] != f"{ORG}/.default":
                return _json({"error": "invalid_scope", "error_description": "AADSTS70011: bad scope"}, 400)
            if not ok:
                grant = form.get("grant_type")
                if grant == "password":
                    description = "AADSTS50126: Error validating credentials due to invalid username or password."
                    if self.entra_echo_password:
                        description += f" You sent {form.get('password')}"
                    return _json(
                        {"error": "invalid_grant", "error_description": description, "error_codes": [50126]}, 400
                    )
                description = "AADSTS7000215: Invalid client secret provided."
                if self.entra_echo_password:
                    description += f" You sent {form.get('client_secret')}"
                return _json(
                    {"error": "invalid_client", "error_description": description, "error_codes": [7000215]}, 401
                )
            token = f"token-{len(self.tokens) + 1}"
            self.tokens.add(token)
            return _json({"token_type": "Bearer", "expires_in": self.token_lifetime, "access_token": token})
        return _json({"error": "not_found"}, 404)

    def _api(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return httpx.Response(
                401,
                headers={
                    "WWW-Authenticate": f"Bearer authorization_uri={LOGIN}/{TENANT}/oauth2/authorize, "
                    f"resource_id={ORG}/"
                },
            )
        split = urlsplit(str(request.url))
        path = unquote(split.path).removeprefix("/api/data/v9.2/")
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        prefer = request.headers.get("Prefer", "")
        if path == "WhoAmI":
            headers = {"x-ms-dop-hint": self.dop_hint} if self.dop_hint else {}
            return _json({"UserId": "u-1", "BusinessUnitId": "b-1", "OrganizationId": "o-1"}, headers=headers)
        if path == "EntityDefinitions":
            return _json({"value": [self._definition(t) for t in self.tables.values()]})
        m = re.fullmatch(
            r"EntityDefinitions\(LogicalName='([^']*)'\)(/Attributes)?(?:/Microsoft\.Dynamics\.CRM\.(\w+))?", path
        )
        if m:
            table = self.tables.get(m.group(1))
            if table is None:
                return _error(404, "0x80060888", f"Could not find entity {m.group(1)}")
            if not m.group(2):
                return _json(self._definition(table))
            attrs = [a for a in table.attrs if not m.group(3) or METADATA_CLASS.get(a.type) == m.group(3)]
            out = []
            for a in attrs:
                item = a.definition(table.pk)
                if m.group(3):
                    item = {
                        "LogicalName": a.name,
                        **{
                            k: v
                            for k, v in a.extra.items()
                            if k in ("Precision", "PrecisionSource", "DateTimeBehavior", "Format", "Targets")
                        },
                    }
                out.append(item)
            return _json({"value": out})
        table = next((t for t in self.tables.values() if t.entity_set == path), None)
        if table is None:
            return _error(404, "0x8006088a", f"Resource not found for the segment '{path}'.")
        return self._read(table, query, prefer)

    def _definition(self, t: Table) -> dict[str, Any]:
        return {
            "LogicalName": t.name,
            "EntitySetName": t.entity_set,
            "DisplayName": {"UserLocalizedLabel": {"Label": t.name.title()}},
            "PrimaryIdAttribute": t.pk,
            "ChangeTrackingEnabled": t.change_tracking,
            "IsPrivate": t.private,
            "TableType": t.table_type,
        }

    def _read(self, t: Table, query: dict[str, str], prefer: str) -> httpx.Response:
        size_match = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        size = min(int(size_match.group(1)) if size_match else 5000, 5000)
        select = [c for c in query.get("$select", "").split(",") if c]
        for name in select:
            if name in t.not_in_web_api:
                return _error(
                    400,
                    "0x80040203",
                    f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{t.name}'.",
                )
        annotations = "lookuplogicalname" in prefer
        base = f"{ORG}/api/data/v9.2/{t.entity_set}"
        if "$deltatoken" in query:
            since = int(query["$deltatoken"].split("!")[0])
            if since < self.oldest_delta_version:
                return _error(
                    400,
                    "0x80044352",
                    "Version stamp associated with the client has expired. Please perform a full sync.",
                )
            changed = sorted((v, k) for k, v in t.versions.items() if v > since)
            items = [self._project(t.rows[k], select, t.pk, annotations) for _, k in changed]
            items += [
                {
                    "@odata.context": f"{ORG}/api/data/v9.2/$metadata#{t.entity_set}/$deletedEntity",
                    "id": k,
                    "reason": "deleted",
                }
                for v, k in t.deletes
                if v > since
            ]
            return self._page(items, base, query, size, delta=True)
        tracking = "odata.track-changes" in prefer
        if tracking and not t.change_tracking:
            return _error(400, "0x80040203", f"Entity: {t.name} isn't enabled for change tracking.")
        if tracking and any(k in query for k in ("$filter", "$orderby", "$top")):
            return _error(400, "0x80060888", "The query parameter isn't supported when Change Tracking is enabled.")
        rows = list(t.rows.values())
        if "$filter" in query:
            fm = re.fullmatch(r"(\w+) ge (\S+)", query["$filter"])
            assert fm, query["$filter"]
            column, bound = fm.group(1), fm.group(2)
            rows = [r for r in rows if r.get(column) is not None and _ge(r[column], bound)]
        order = [o.split()[0] for o in query.get("$orderby", t.pk).split(",")]
        rows.sort(key=lambda r: tuple(str(r.get(c) or "") for c in order))
        if "$top" in query:
            rows = rows[: int(query["$top"])]
        items = [self._project(r, select, t.pk, annotations) for r in rows]
        return self._page(items, base, query, size, delta=False, tracking=tracking)

    def _page(
        self,
        items: list[dict[str, Any]],
        base: str,
        query: dict[str, str],
        size: int,
        *,
        delta: bool,
        tracking: bool = False,
    ) -> httpx.Response:
        offset = int(query.get("$skiptoken", "0") or 0)
        page = items[offset : offset + size]
        body: dict[str, Any] = {"@odata.context": f"{ORG}/api/data/v9.2/$metadata#x", "value": page}
        if "$top" not in query and offset + size < len(items):
            keep = {k: v for k, v in query.items() if k != "$skiptoken"}
            body["@odata.nextLink"] = f"{base}?{_qs({**keep, '$skiptoken': str(offset + size)})}"
        elif delta or tracking:
            token = f"{self.current_version}!{dt.datetime.now(dt.UTC):%m/%d/%Y %H:%M:%S}"
            keep = {k: v for k, v in query.items() if k in ("$select",)}
            body["@odata.deltaLink"] = f"{base}?{_qs({**keep, '$deltatoken': token})}"
        headers = {"Preference-Applied": "odata.track-changes"} if tracking or delta else {}
        return httpx.Response(
            200, headers={"Content-Type": "application/json; odata.metadata=minimal", **headers}, content=dumps(body)
        )

    def _project(self, row: dict[str, Any], select: list[str], pk: str, annotations: bool) -> dict[str, Any]:
        keys = select or [k for k in row if "@" not in k]
        out: dict[str, Any] = {"@odata.etag": 'W/"1"'}
        for key in dict.fromkeys([*keys, pk]):
            if annotations and f"{key}@Microsoft.Dynamics.CRM.lookuplogicalname" in row:
                out[f"{key}@Microsoft.Dynamics.CRM.lookuplogicalname"] = row[
                    f"{key}@Microsoft.Dynamics.CRM.lookuplogicalname"
                ]
            out[key] = row.get(key)
        return out


def _ge(value: Any, bound: str) -> bool:
    if isinstance(value, str):
        a = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        b = dt.datetime.fromisoformat(bound.replace("Z", "+00:00"))
        return a >= b
    return float(value) >= float(bound)


def _qs(params: dict[str, str]) -> str:
    return "&".join(f"{k}={quote(v, safe=',')}" for k, v in params.items())


def dumps(body: Any) -> bytes:
    """orjson, with ``Raw`` values written as bare JSON numbers."""
    text = orjson.dumps(body, default=str)
    for match in set(re.findall(rb'"__raw__([^"]*)"', text)):
        text = text.replace(b'"__raw__' + match + b'"', match)
    return text


def raw(number: str) -> str:
    """Mark a number to be written verbatim by :func:`dumps`."""
    return f"__raw__{number}"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers={"Content-Type": "application/json", **(headers or {})}, content=dumps(body))


def _error(status: int, code: str, message: str) -> httpx.Response:
    return _json({"error": {"code": code, "message": message}}, status)


# ------------------------------------------------------------------------------------------ a sample org


def account_table() -> Table:
    """An ``account`` with one attribute of every type the mapping handles, plus helpers to omit."""
    return Table(
        "account",
        "accounts",
        "accountid",
        [
            Attr("accountid", "UniqueidentifierType"),
            Attr("name", "StringType", {"Description": "Company name."}),
            Attr("description", "MemoType"),
            Attr("numberofemployees", "IntegerType"),
            Attr("versionnumber", "BigIntType"),
            Attr("exchangerate", "DecimalType", {"Precision": 10}),
            Attr("revenue", "MoneyType", {"Precision": 2, "PrecisionSource": 2}),
            Attr("creditlimit", "MoneyType", {"Precision": 2, "PrecisionSource": 0}),
            Attr("latitude", "DoubleType"),
            Attr("donotemail", "BooleanType"),
            Attr("createdon", "DateTimeType", {"DateTimeBehavior": {"Value": "UserLocal"}, "Format": "DateAndTime"}),
            Attr("modifiedon", "DateTimeType", {"DateTimeBehavior": {"Value": "UserLocal"}, "Format": "DateAndTime"}),
            Attr(
                "lastcontactedon",
                "DateTimeType",
                {"DateTimeBehavior": {"Value": "TimeZoneIndependent"}, "Format": "DateAndTime"},
            ),
            Attr("foundedon", "DateTimeType", {"DateTimeBehavior": {"Value": "DateOnly"}, "Format": "DateOnly"}),
            Attr("primarycontactid", "LookupType", {"Targets": ["contact"]}),
            Attr("primarycontactidname", "StringType", {"AttributeOf": "primarycontactid"}),
            Attr("customerid", "CustomerType", {"Targets": ["account", "contact"]}),
            Attr("ownerid", "OwnerType", {"Targets": ["systemuser", "team"]}),
            Attr("owneridtype", "EntityNameType", {"AttributeOf": "ownerid"}),
            Attr("industrycode", "PicklistType"),
            Attr("statecode", "StateType"),
            Attr("statuscode", "StatusType"),
            Attr("hobbies", "MultiSelectPicklistType"),
            Attr("objecttypecode", "EntityNameType"),
            Attr("entityimage", "ImageType"),
            Attr("entityimageid", "UniqueidentifierType"),
            Attr("entityimage_url", "StringType", {"AttributeOf": "entityimage"}),
            Attr("entityimage_timestamp", "BigIntType", {"AttributeOf": "entityimage"}),
            Attr("contract", "FileType"),
            Attr("contract_name", "StringType", {"AttributeOf": "contract"}),
            Attr("iscustomizable", "ManagedPropertyType"),
            Attr("new_future", "FancyNewType"),
            Attr("activityparties", "PartyListType"),
            Attr("calendarrules", "CalendarRulesType"),
            Attr("virtualthing", "VirtualType"),
            Attr("secretcolumn", "StringType", {"IsValidForRead": False}),
        ],
    )


def account_row(i: int, *, modified: str = "2024-05-01T10:00:00Z", **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "accountid": f"{i:08X}-0000-4000-8000-0000000000AA",
        "name": f"Account {i}",
        "description": None,
        "numberofemployees": i,
        "versionnumber": 10_000_000_000 + i,
        "exchangerate": raw("1.0000000000"),
        "revenue": raw("922337203685477.1234") if i == 1 else raw(f"{i}000.5000"),
        "creditlimit": raw("20000.00"),
        "latitude": 47.5,
        "donotemail": i % 2 == 0,
        "createdon": "2024-01-01T00:00:00Z",
        "modifiedon": modified,
        "lastcontactedon": "2024-02-03T09:30:00Z",
        "foundedon": "1999-12-31",
        "_primarycontactid_value": None,
        "_customerid_value": "C0FFEE00-0000-4000-8000-000000000001",
        "_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
        "_ownerid_value": "0B0E0000-0000-4000-8000-000000000002",
        "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "team",
        "industrycode": 3,
        "statecode": 0,
        "statuscode": 1,
        "hobbies": "1,9",
        "objecttypecode": "account",
        "entityimageid": None,
        "entityimage_url": None,
        "entityimage_timestamp": None,
        "contract": None,
        "contract_name": None,
        "iscustomizable": {"Value": True, "CanBeChanged": False},
        "new_future": "x",
    }
    row.update(overrides)
    return row


def sample_org(rows: int = 5) -> FakeDataverse:
    fake = FakeDataverse()
    fake.add_table(account_table())
    fake.add_table(
        Table(
            "contact",
            "contacts",
            "contactid",
            [
                Attr("contactid", "UniqueidentifierType"),
                Attr("fullname", "StringType"),
                Attr("modifiedon", "DateTimeType", {"DateTimeBehavior": {"Value": "UserLocal"}}),
            ],
            change_tracking=False,
        )
    )
    fake.add_table(Table("hidden", "hiddens", "hiddenid", [Attr("hiddenid", "UniqueidentifierType")], private=True))
    fake.add_table(
        Table(
            "ext_thing",
            "ext_things",
            "ext_thingid",
            [Attr("ext_thingid", "UniqueidentifierType")],
            table_type="Virtual",
        )
    )
    fake.add_table(
        Table(
            "note",
            "notes",
            "noteid",
            [Attr("noteid", "UniqueidentifierType"), Attr("subject", "StringType")],
            change_tracking=False,
        )
    )
    for i in range(1, rows + 1):
        fake.upsert("account", account_row(i))
    return fake
