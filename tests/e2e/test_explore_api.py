"""Issue-level checks of test and explore through a running server against the emulator over HTTPS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowservice.client import ApiError, FlowServiceClient
from flowservice.domain.catalogue import DYNAMICS_SPEC_ID
from tests.e2e.stack import Stack, server_env


@pytest.fixture(scope="module")
def stack(emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(emulator, tmp_path_factory.mktemp("explore") / "server", server_env(emulator))
    stack.start()
    yield stack
    stack.stop()


def connect(api: FlowServiceClient, uri: str, username: str, password: str) -> str:
    body = {
        "name": "Dynamics",
        "auth": {
            "specName": "Basic Authentication for Dynamics-Online",
            "params": {"serviceUri": uri, "username": username, "password": password},
        },
        "connectionSpec": {"id": DYNAMICS_SPEC_ID, "version": "1.0"},
    }
    return str(api.call("POST", "/connections", json=body)["id"])


def test_a_connection_to_the_org_passes_test_and_explores_tables_columns_and_rows(stack: Stack) -> None:
    api, org = stack.api, stack.emulator
    assert api is not None
    connection = connect(api, org.org_url, org.username, org.password)
    assert api.call("GET", f"/connections/{connection}/test") == {"result": True}
    tables = api.call("GET", f"/connections/{connection}/explore", params={"objectType": "root"})
    assert len(tables) >= 500
    assert {"type": "table", "name": "Account", "path": "account", "canPreview": True, "canFetchSchema": True} in tables
    described = api.call(
        "GET", f"/connections/{connection}/explore", params={"objectType": "table", "object": "account"}
    )
    columns = {c["name"]: c for c in described["schema"]["columns"]}
    assert described["format"] == "flat" and len(columns) >= 80
    assert columns["accountid"]["meta"] == {"originalType": "UniqueidentifierType", "primaryKey": True}
    assert columns["revenue"]["type"] == "decimal" and columns["revenue"]["meta"]["originalType"] == "MoneyType"
    assert (columns["revenue"]["meta"]["precision"], columns["revenue"]["meta"]["scale"]) == (38, 4)  # money: 4 places
    assert columns["numberofemployees"]["xdm"] == {"type": "integer", "minimum": -2147483648, "maximum": 2147483647}
    assert columns["modifiedon"]["xdm"]["format"] == "date-time"
    date_only = [c for c in columns.values() if c["type"] == "date"]
    assert date_only and all(c["xdm"]["format"] == "date" for c in date_only)
    assert "_parentaccountid_value" in columns
    preview = api.call(
        "GET",
        f"/connections/{connection}/explore",
        params={"objectType": "table", "object": "account", "preview": "true"},
    )
    assert len(preview["data"]) == 10
    assert set(preview["data"][0]) <= set(columns)


def test_a_wrong_password_fails_the_test_with_entra_ids_reason_and_no_secret(stack: Stack) -> None:
    api, org = stack.api, stack.emulator
    assert api is not None
    connection = connect(api, org.org_url, org.username, "not-the-password-42")
    result = api.call("GET", f"/connections/{connection}/test")
    assert result["result"] is False
    assert "AADSTS50126" in result["reason"] and "not-the-password-42" not in result["reason"]


def test_throttling_during_explore_is_absorbed(stack: Stack) -> None:
    api, org = stack.api, stack.emulator
    assert api is not None
    connection = connect(api, org.org_url, org.username, org.password)
    with org.faults([{"kind": "throttle", "path": "/api/data/v9.2/EntityDefinitions", "count": 2, "retry_after": 1}]):
        described = api.call(
            "GET", f"/connections/{connection}/explore", params={"objectType": "table", "object": "contact"}
        )
        fired = [r["fired"] for r in org.set_faults([], append=True)]
    assert described["schema"]["columns"] and fired == [2]


def test_unknown_tables_are_404_and_metadata_addresses_are_refused_before_any_request(stack: Stack) -> None:
    api, org = stack.api, stack.emulator
    assert api is not None
    connection = connect(api, org.org_url, org.username, org.password)
    with pytest.raises(ApiError, match="404"):
        api.call("GET", f"/connections/{connection}/explore", params={"objectType": "table", "object": "nope"})
    metadata = connect(api, "https://169.254.169.254/", "u@x.com", "p")
    result = api.call("GET", f"/connections/{metadata}/test")
    assert result["result"] is False and "169.254.169.254" in result["reason"]
    with pytest.raises(ApiError, match="400"):
        api.call("GET", f"/connections/{metadata}/explore", params={"objectType": "root"})
