"""A Python client of the Flow Service API: the one the demo, the tests and the benchmarks drive the server with.

Synchronous, on one ``httpx.Client`` whose timeout bounds every call (a client without one is refused). TLS is
always verified; a custom CA bundle may be given, verification cannot be turned off. The client imports the
domain (for the spec ids) and httpx only, never the server's layers (an import contract in ``pyproject.toml``),
so it talks to a server only over HTTP.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID, DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID

BASE = "/data/foundation/flowservice"
TOKEN_PATH = "/ims/token/v3"
DEFAULT_TIMEOUT = 30.0
"""Seconds each call may take to connect, to send, to receive and to wait for a pooled connection."""
FINAL_STATUSES = frozenset({"success", "partialSuccess", "failed"})
SPEC_VERSION = "1.0"

Document = dict[str, Any]
"""A JSON object as the API sends and receives it."""
Query = httpx.QueryParams | Mapping[str, str | int] | list[tuple[str, str | int | float | bool | None]]
"""Query parameters: a mapping, or pairs when a name repeats (``property`` filters)."""


class ApiError(RuntimeError):
    """An answer of 400 or more, in one line: method, path, status and the Flow Service ``errorMessage``."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        message = body.get("errorMessage", response.text) if isinstance(body, dict) else response.text
        super().__init__(f"{response.request.method} {response.request.url.path} → {response.status_code}: {message}")


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_in: int
    """Milliseconds, as IMS counts them."""


@dataclass(frozen=True)
class Created:
    """The answer to creating a Flow Service resource."""

    id: str
    etag: str


def open_http(url: str, *, timeout: float = DEFAULT_TIMEOUT, ca_bundle: str | Path | None = None) -> httpx.Client:
    """An HTTP client for a server at ``url``: every call bounded by ``timeout``, TLS verified against the system's
    trust store or ``ca_bundle``."""
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else True
    return httpx.Client(base_url=url, timeout=timeout, verify=verify)


def request_token(http: httpx.Client, client_id: str, client_secret: str, *, scope: str | None = None) -> Token:
    """An access token from ``/ims/token/v3`` (the client-credentials grant)."""
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    if scope is not None:
        form["scope"] = scope
    response = http.post(TOKEN_PATH, data=form)
    if response.status_code >= 400:
        raise ApiError(response)
    answer = response.json()
    return Token(str(answer["access_token"]), int(answer["expires_in"]))


def is_final(run: Document) -> bool:
    return run["metrics"]["statusSummary"]["status"] in FINAL_STATUSES


class FlowServiceClient:
    """Calls of one API client (``x-api-key``) with its token, in one org and sandbox.

    ``request`` and the verbs answer the raw response (tests look at statuses and headers); ``call`` answers the
    JSON body and raises ``ApiError`` for an error status; the ``create_*`` calls send the documented bodies.
    """

    def __init__(self, http: httpx.Client, *, org: str, client_id: str, token: str, sandbox: str = "prod") -> None:
        if None in (http.timeout.connect, http.timeout.read, http.timeout.write, http.timeout.pool):
            raise ValueError("the HTTP client needs a timeout: every call of the API client must be bounded")
        self.http = http
        self.org = org
        self.client_id = client_id
        self.token = token
        self.sandbox = sandbox

    @staticmethod
    def login(
        url: str,
        *,
        org: str,
        client_id: str,
        client_secret: str,
        sandbox: str = "prod",
        timeout: float = DEFAULT_TIMEOUT,
        ca_bundle: str | Path | None = None,
    ) -> FlowServiceClient:
        """A client of the server at ``url`` with a fresh token."""
        http = open_http(url, timeout=timeout, ca_bundle=ca_bundle)
        try:
            token = request_token(http, client_id, client_secret)
        except BaseException:
            http.close()
            raise
        return FlowServiceClient(http, org=org, client_id=client_id, token=token.access_token, sandbox=sandbox)

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------------------------------- requests
    def headers(self, overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
        """The identity headers of every Flow Service call; an override of ``None`` leaves that header out."""
        values: dict[str, str | None] = {
            "Authorization": f"Bearer {self.token}",
            "x-api-key": self.client_id,
            "x-gw-ims-org-id": self.org,
            "x-sandbox-name": self.sandbox,
            "Content-Type": "application/json",
        }
        values.update(overrides or {})
        return {k: v for k, v in values.items() if v is not None}

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Query | None = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        header_overrides: Mapping[str, str | None] | None = None,
    ) -> httpx.Response:
        """One call; ``path`` is under the Flow Service base unless it starts with ``/data`` or ``/ims``."""
        url = path if path.startswith(("/ims", "/data")) else BASE + path
        sent = {**self.headers(header_overrides), **(headers or {})}
        return self.http.request(
            method, url, json=json, params=params, content=content, data=data, files=files, headers=sent
        )

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of one call (``None`` when empty); an error status raises ``ApiError``."""
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response)
        return response.json() if response.content else None

    def item(self, path: str) -> Document:
        """The one resource at ``path`` (``GET /{collection}/{id}`` answers it as the only item)."""
        item: Document = self.call("GET", path)["items"][0]
        return item

    def items(self, path: str, params: Mapping[str, str] | None = None) -> Iterator[Document]:
        """Every item of a listing, page after page: the next page is the same query with the
        ``continuationToken`` of the answer's ``_links.next``."""
        query = dict(params or {})
        while True:
            page = self.call("GET", path, params=query)
            yield from page["items"]
            following = page.get("_links", {}).get("next")
            if not following:
                return
            query["continuationToken"] = httpx.URL(following["href"]).params["continuationToken"]

    # ------------------------------------------------------------------------------------------- resources
    def create_connection(
        self,
        name: str,
        *,
        auth_spec: str,
        params: Mapping[str, Any],
        spec_id: str = DYNAMICS_SPEC_ID,
        description: str | None = None,
    ) -> Created:
        """A base connection: ``auth_spec`` names the connection spec's authentication (its ``specName``)."""
        body: Document = {"name": name}
        if description is not None:
            body["description"] = description
        body["auth"] = {"specName": auth_spec, "params": dict(params)}
        body["connectionSpec"] = {"id": spec_id, "version": SPEC_VERSION}
        return self._create("/connections", body)

    def create_source_connection(
        self,
        name: str,
        *,
        base_connection_id: str,
        table: str,
        spec_id: str = DYNAMICS_SPEC_ID,
        params: dict[str, Any] | None = None,
    ) -> Created:
        """A source connection reading one table of a base connection (``params``: the spec's other params,
        e.g. Dynamics' ``lookupNames``)."""
        body = {
            "name": name,
            "baseConnectionId": base_connection_id,
            "data": {"format": "tabular"},
            "params": {**(params or {}), "tableName": table},
            "connectionSpec": {"id": spec_id, "version": SPEC_VERSION},
        }
        return self._create("/sourceConnections", body)

    def create_dataset(self, name: str, *, description: str | None = None) -> str:
        """A dataset (a Delta table); answers its id."""
        body = {"name": name} if description is None else {"name": name, "description": description}
        reference: str = self.call("POST", "/data/foundation/catalog/dataSets", json=body)[0]
        return reference.rsplit("/", 1)[-1]

    def create_target_connection(
        self, name: str, *, dataset_id: str, write_mode: str | None = None, spec_id: str = DATA_LAKE_SPEC_ID
    ) -> Created:
        """A target connection writing a dataset (``write_mode``: ``merge`` or ``append``, else the spec's)."""
        params = {"dataSetId": dataset_id} if write_mode is None else {"dataSetId": dataset_id, "writeMode": write_mode}
        body = {
            "name": name,
            "data": {"format": "delta"},
            "params": params,
            "connectionSpec": {"id": spec_id, "version": SPEC_VERSION},
        }
        return self._create("/targetConnections", body)

    def create_mapping_set(self, mappings: list[Document]) -> str:
        """A Data Prep mapping set; answers its id (its version is 0)."""
        return str(self.call("POST", "/data/foundation/conversion/mappingSets", json={"mappings": mappings})["id"])

    def create_flow(
        self,
        name: str,
        *,
        source_connection_id: str,
        target_connection_id: str,
        transformations: list[Document],
        schedule: Document,
        spec_id: str = CRM_TO_AEP_FLOW_SPEC_ID,
    ) -> Created:
        """A flow from one source connection to one target connection (``schedule``: its ``scheduleParams``)."""
        body = {
            "name": name,
            "flowSpec": {"id": spec_id, "version": SPEC_VERSION},
            "sourceConnectionIds": [source_connection_id],
            "targetConnectionIds": [target_connection_id],
            "transformations": transformations,
            "scheduleParams": schedule,
        }
        return self._create("/flows", body)

    def start_run(self, flow_id: str, *, full_refresh: bool = False) -> str:
        """A run of the flow now; answers the run's id. ``full_refresh``: the run reads the table in full
        (``params.fullRefresh``, docs/api.md), e.g. to backfill a column the org added."""
        body: dict[str, Any] = {"flowId": flow_id}
        if full_refresh:
            body["params"] = {"fullRefresh": True}
        return str(self.call("POST", "/runs", json=body)["id"])

    def wait_for_run(
        self,
        run_id: str,
        *,
        timeout: float = 600.0,
        every: float = 0.3,
        until: Callable[[Document], bool] = is_final,
    ) -> Document:
        """Poll the run every ``every`` seconds until ``until`` holds (by default: it has ended); answer it."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.item(f"/runs/{run_id}")
            if until(run):
                return run
            if time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} was not done within {timeout:.0f} s: {run['metrics']}")
            time.sleep(every)

    def _create(self, path: str, body: Document) -> Created:
        answer = self.call("POST", path, json=body)
        return Created(str(answer["id"]), str(answer["etag"]))
