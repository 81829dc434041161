"""Every operation of Adobe's catalogue, as ``docs/api.md`` lists it, is either served or refused by name.

The table in ``docs/api.md`` is the source: each of its rows is called on a running server (in-process, SQLite
and PostgreSQL) with unknown ids and an empty body. A served row must reach its route (no "no route" 404, no 405,
no 501) and be documented in ``/openapi.json`` with the identity headers and its errors; a row marked not
supported must answer the 501 Flow Service body that names the operation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.server import Api

DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"
ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| (/\S+) \| [^|]+ \| (served|not supported) \|")
UNKNOWN_ID = "0123456789abcdef01234567"
IDENTITY_HEADERS = {"authorization", "x-api-key", "x-gw-ims-org-id", "x-sandbox-name"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    served: bool

    def url(self) -> str:
        return re.sub(r"\{[^}]+\}", UNKNOWN_ID, self.path)

    def template(self) -> str:
        """The path as a regular expression over OpenAPI's templates (their parameter names differ)."""
        path = self.path.rstrip("/")  # the server serves "/x/" as "/x"
        return "^" + re.sub(r"\\\{[^}]+\\\}", r"\\{[^}]+\\}", re.escape(path)) + "$"


def catalogue() -> list[Operation]:
    rows = [ROW.match(line) for line in DOC.read_text(encoding="utf-8").splitlines()]
    return [Operation(m[1], m[2], m[3] == "served") for m in rows if m]


OPERATIONS = catalogue()


def test_the_table_lists_the_whole_catalogue() -> None:
    # §3 of the reference has 45 Flow Service operations; Catalog, Data Prep, Schema Registry, Sandbox
    # Management and IMS add 21 (Data Prep's validate and preview, Data Access's preview among them)
    assert len(OPERATIONS) == 66
    assert len({(o.method, o.path) for o in OPERATIONS}) == len(OPERATIONS)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: f"{o.method} {o.path}")
def test_each_operation_is_served_or_refused_by_name(any_api: Api, operation: Operation) -> None:
    if operation.path.startswith("/ims"):
        response = any_api.request(operation.method, operation.url(), data={"grant_type": "client_credentials"})
    else:
        body: object = [] if operation.method == "PATCH" else {}
        response = any_api.request(operation.method, operation.url(), json=body if operation.method != "GET" else None)
    if response.status_code >= 400:
        assert {"type", "title", "status", "report", "errorMessage"} <= set(response.json()), response.text
    if operation.served:
        assert response.status_code not in (405, 501), response.text
        assert not (response.status_code == 404 and "No route matches" in response.text), response.text
    else:
        # 501 where Adobe documents no refusal; Adobe's own code where it does (1426: custom specs)
        assert response.status_code in (400, 501), response.text
        assert response.json()["type"].endswith(("FLOW-1100-501", "FLOW-1426-400"))
        assert "not supported" in response.json()["report"]["detailed-message"]


def test_every_served_operation_is_in_openapi_with_identity_headers_and_errors(api: Api) -> None:
    paths = api.http.get("/openapi.json").json()["paths"]
    for operation in (o for o in OPERATIONS if o.served):
        matches = [p for p in paths if re.match(operation.template(), p) and operation.method.lower() in paths[p]]
        assert matches, f"{operation.method} {operation.path} is not in /openapi.json"
        documented = paths[matches[0]][operation.method.lower()]
        if operation.path.startswith("/data"):
            names = {p["name"].lower() for p in documented.get("parameters", []) if p["in"] == "header"}
            assert IDENTITY_HEADERS <= names, f"{operation.method} {operation.path} lacks identity headers"
            errors = {s for s in documented["responses"] if s.startswith(("4", "5"))}
            assert {"400", "401", "403"} & errors, f"{operation.method} {operation.path} documents no error"
