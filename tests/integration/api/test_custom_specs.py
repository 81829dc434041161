"""POST /connectionSpecs, PUT /connectionSpecs/{id}, POST /flowSpecs and PUT /flowSpecs/{id}: this server runs only
the specs it ships, so every caller gets Adobe's code for a caller that may not create or update specs
(FLOW-1426-400) with the reason and docs/adding-a-source.md; the catalogue is unchanged."""

from __future__ import annotations

import pytest

from flowservice.domain.catalogue import CRM_TO_AEP_FLOW_SPEC_ID, DYNAMICS_SPEC_ID
from tests.fixtures.server import Api

CALLS = [
    ("POST", "/connectionSpecs", "connection"),
    ("PUT", f"/connectionSpecs/{DYNAMICS_SPEC_ID}", "connection"),
    ("PUT", "/connectionSpecs/no-such-spec", "connection"),
    ("POST", "/flowSpecs", "flow"),
    ("PUT", f"/flowSpecs/{CRM_TO_AEP_FLOW_SPEC_ID}", "flow"),
]
BODY = {"name": "my-crm", "providerId": "0ed90a81-07f4-4586-8190-b40eccef1c5a", "version": "1.0", "authSpec": []}


@pytest.mark.parametrize(("method", "path", "kind"), CALLS)
def test_a_custom_spec_is_refused_with_1426_and_the_way_to_add_one(
    any_api: Api, method: str, path: str, kind: str
) -> None:
    before = any_api.call("GET", f"/{kind}Specs")
    response = any_api.request(method, path, json={**BODY, "name": "CRMToAEP" if kind == "flow" else "my-crm"})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "https://ns.adobe.com/aep/errors/FLOW-1426-400"
    assert body["title"] == "Invalid request" and body["status"] == 400
    message = body["report"]["detailed-message"]
    assert message.startswith(f"Custom {kind} specs are not supported on this server")
    assert "docs/adding-a-source.md" in message and f"GET /{kind}Specs" in message
    assert body["errorMessage"] == message and body["report"]["request-id"]
    assert any_api.call("GET", f"/{kind}Specs") == before


@pytest.mark.parametrize(("method", "path", "kind"), CALLS[:1] + CALLS[3:4])
def test_an_unauthenticated_custom_spec_call_is_refused_as_unauthenticated(
    any_api: Api, method: str, path: str, kind: str
) -> None:
    response = any_api.request(method, path, json=BODY, header_overrides={"Authorization": None})
    assert response.status_code == 401


def test_the_openapi_document_declares_the_refused_spec_routes(any_api: Api) -> None:
    paths = any_api.http.get("/openapi.json").json()["paths"]
    base = "/data/foundation/flowservice"
    for path, method in (
        ("/connectionSpecs", "post"),
        ("/connectionSpecs/{spec_id}", "put"),
        ("/flowSpecs", "post"),
        ("/flowSpecs/{spec_id}", "put"),
    ):
        operation = paths[base + path][method]
        assert "FLOW-1426-400" in operation["summary"] and "400" in operation["responses"]
        assert operation["requestBody"]["content"]["application/json"]["example"]["name"]
