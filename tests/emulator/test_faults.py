"""Every kind of the fault plan, visible on the wire, plus the 52-concurrent-requests limit."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest


@pytest.fixture
def faults(emulator):
    yield emulator
    emulator.clear_faults()


def test_throttling_returns_429_with_retry_after_and_each_service_protection_code(faults):
    faults.set_faults(
        [
            {"kind": "throttle", "table": "accounts", "limit": limit, "retry_after": 7, "count": 1}
            for limit in ("requests", "execution_time", "concurrency")
        ]
    )
    with faults.client() as api:
        responses = [api.get("accounts?$top=1") for _ in range(4)]
    # one rule fires per request, in order, each once
    codes = [r.json()["error"]["code"] for r in responses[:3]]
    assert [r.status_code for r in responses] == [429, 429, 429, 200]
    assert codes == ["0x80072322", "0x80072321", "0x80072326"]
    assert all(r.headers["Retry-After"] == "7" for r in responses[:3])
    assert responses[0].json()["error"]["message"] == (
        "Number of requests exceeded the limit of 6000 over time window of 300 seconds."
    )
    stats = faults.stats()
    assert stats["faults_by_kind"]["throttle"] >= 3


def test_rules_fire_on_the_nth_request_with_a_count_limit(faults):
    faults.set_faults([{"kind": "unavailable", "path": "/api/data/v9.2/contacts", "nth": 3, "count": 2}])
    with faults.client() as api:
        statuses = [api.get("contacts?$top=1").status_code for _ in range(6)]
    assert statuses == [200, 200, 503, 503, 200, 200]


def test_probability_rules_are_seeded_and_respect_their_count(faults):
    faults.set_faults([{"kind": "server_error", "table": "leads", "probability": 0.5, "count": 3}])
    with faults.client() as api:
        statuses = [api.get("leads?$top=1").status_code for _ in range(30)]
    assert statuses.count(500) == 3


def test_unavailable_org_answers_503_with_the_dataverse_body(faults):
    faults.set_faults([{"kind": "unavailable", "table": "account"}])
    with faults.client() as api:
        response = api.get("accounts")
    assert response.status_code == 503
    assert response.json()["error"]["message"] == (
        "Unable to perform the request as the org is not available now, please retry later"
    )


def test_reset_cuts_the_connection_in_the_middle_of_a_body(faults):
    faults.set_faults([{"kind": "reset", "table": "accounts", "after_bytes": 5000}])
    with faults.client() as api:
        with pytest.raises(httpx.RemoteProtocolError):
            api.get("accounts")
        assert api.get("accounts?$top=1").status_code == 200


def test_slow_pages_delay_the_response(faults):
    faults.set_faults([{"kind": "slow", "table": "accounts", "delay_ms": 1200}])
    with faults.client() as api:
        started = time.monotonic()
        assert api.get("accounts?$top=1").status_code == 200
        assert time.monotonic() - started >= 1.2
        faults.set_faults([{"kind": "slow", "table": "accounts", "delay_ms": 1500}])
        with pytest.raises(httpx.ReadTimeout):
            api.get("accounts?$top=1", timeout=0.5)


def test_token_expiry_answers_401_and_revoke_requires_a_new_token(faults):
    faults.set_faults([{"kind": "token_expiry", "path": "/api/data/v9.2/WhoAmI", "revoke": True}])
    with faults.client() as api:
        response = api.get("WhoAmI")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
        assert api.get("WhoAmI").status_code == 401, "the revoked token stays invalid"
    time.sleep(0.01)
    with faults.client() as fresh:
        assert fresh.get("WhoAmI").status_code == 200


def test_expired_delta_token_fault_hits_delta_requests_only(faults):
    with faults.client() as api:
        link = api.get("opportunities?$select=name", headers={"Prefer": "odata.track-changes"}).json()
        while "@odata.nextLink" in link:
            link = api.get(link["@odata.nextLink"], headers={"Prefer": "odata.track-changes"}).json()
        faults.set_faults([{"kind": "expired_delta_token"}])
        assert api.get("opportunities?$top=1").status_code == 200
        expired = api.get(link["@odata.deltaLink"])
        assert expired.status_code == 400 and expired.json()["error"]["code"] == "0x80044352"
        assert api.get(link["@odata.deltaLink"]).status_code == 200


def test_faults_can_be_set_on_the_command_line(start_emulator):
    emu = start_emulator(scale=50, faults=[{"kind": "throttle", "table": "accounts", "retry_after": 3}])
    with emu.client() as api:
        first = api.get("accounts?$top=1")
        assert first.status_code == 429 and first.headers["Retry-After"] == "3"
        assert api.get("accounts?$top=1").status_code == 200
    assert emu.stats()["by_status"]["429"] == 1


def test_more_than_52_concurrent_requests_of_one_user_get_429(start_emulator):
    emu = start_emulator(scale=50, latency=400)
    token = emu.token()

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=80)
        async with httpx.AsyncClient(
            verify=emu.verify, limits=limits, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            return await asyncio.gather(*(client.get(emu.api_url + "accounts?$top=1") for _ in range(70)))

    responses = asyncio.run(burst())
    throttled = [r for r in responses if r.status_code == 429]
    assert len(throttled) >= 10 and sum(r.status_code == 200 for r in responses) >= 40
    assert throttled[0].json() == {
        "error": {"code": "0x80072326", "message": "Number of concurrent requests exceeded the limit of 52."}
    }
    assert emu.stats()["max_in_flight"] == 52


def test_admin_endpoints_list_replace_and_clear_rules(faults):
    rules = faults.set_faults([{"kind": "slow", "table": "accounts", "delay_ms": 10, "count": None}])
    assert rules[0]["kind"] == "slow" and "count" not in rules[0]
    faults.set_faults([{"kind": "503", "table": "contacts"}], append=True)
    with httpx.Client(base_url=faults.org_url, verify=faults.verify) as admin:
        listed = admin.get("/_emulator/faults").json()["rules"]
        assert [r["kind"] for r in listed] == ["slow", "unavailable"]
        bad = admin.post("/_emulator/faults", json=[{"kind": "meteor"}])
        assert bad.status_code == 400
        faults.clear_faults()
        assert admin.get("/_emulator/faults").json()["rules"] == []
