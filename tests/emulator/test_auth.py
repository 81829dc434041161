"""Entra ID through MSAL, and the Web API's bearer challenge."""

from __future__ import annotations

import re
import time
import warnings

import httpx
import jwt
import msal
import pytest

CHALLENGE = re.compile(r"^Bearer authorization_uri=(?P<uri>[^ ,]+), resource_id=(?P<resource>[^ ,]+)$")


@pytest.fixture
def msal_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests (MSAL's transport) lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's `verify`;
    # unset them so MSAL's verify=<ca_file> is the one that applies, as on a machine without them.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def authority_from_challenge(emulator) -> str:
    response = httpx.get(emulator.api_url, verify=emulator.verify)
    assert response.status_code == 401
    match = CHALLENGE.match(response.headers["WWW-Authenticate"])
    assert match, response.headers["WWW-Authenticate"]
    return match["uri"].removesuffix("/oauth2/authorize")


def test_missing_token_gets_the_documented_bearer_challenge(emulator):
    response = httpx.get(emulator.api_url + "accounts", verify=emulator.verify)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f"Bearer authorization_uri={emulator.org_url}/{emulator.tenant_id}/oauth2/authorize, "
        f"resource_id={emulator.org_url}/"
    )


def test_msal_client_credentials_gets_a_token_from_the_authority_in_the_challenge(emulator, msal_env):
    authority = authority_from_challenge(emulator)
    assert authority == emulator.authority
    app = msal.ConfidentialClientApplication(
        emulator.client_id,
        authority=authority,
        client_credential=emulator.client_secret,
        instance_discovery=False,
        verify=emulator.ca_file,
    )
    result = app.acquire_token_for_client(scopes=[f"{emulator.org_url}/.default"])
    assert "access_token" in result, result
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == emulator.org_url and claims["tid"] == emulator.tenant_id and claims["exp"] > claims["iat"]
    with httpx.Client(verify=emulator.verify) as client:
        who = client.get(emulator.api_url + "WhoAmI", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert who.status_code == 200 and set(who.json()) >= {"BusinessUnitId", "UserId", "OrganizationId"}


def test_msal_username_password_gets_a_token_from_the_authority_in_the_challenge(emulator, msal_env):
    authority = authority_from_challenge(emulator)
    app = msal.PublicClientApplication(
        emulator.client_id, authority=authority, instance_discovery=False, verify=emulator.ca_file
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(
            emulator.username, emulator.password, scopes=[f"{emulator.org_url}/.default"]
        )
        wrong = app.acquire_token_by_username_password(
            emulator.username, "not-the-password", scopes=[f"{emulator.org_url}/.default"]
        )
    assert "access_token" in result, result
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["upn"] == emulator.username and claims["aud"] == emulator.org_url
    assert wrong["error"] == "invalid_grant" and wrong["error_description"].startswith("AADSTS50126:")
    assert wrong["error_codes"] == [50126]


def test_wrong_client_secret_is_invalid_client_with_aadsts7000215(emulator):
    response = httpx.post(
        f"{emulator.authority}/oauth2/v2.0/token",
        verify=emulator.verify,
        data={
            "grant_type": "client_credentials",
            "client_id": emulator.client_id,
            "client_secret": "wrong",
            "scope": f"{emulator.org_url}/.default",
        },
    )
    body = response.json()
    assert response.status_code == 401
    assert body["error"] == "invalid_client" and body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= set(body)


def test_client_credentials_without_default_scope_and_unknown_client_are_rejected(emulator):
    url = f"{emulator.authority}/oauth2/v2.0/token"
    bad_scope = httpx.post(
        url,
        verify=emulator.verify,
        data={
            "grant_type": "client_credentials",
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "scope": f"{emulator.org_url}/user_impersonation",
        },
    ).json()
    assert bad_scope["error"] == "invalid_scope" and bad_scope["error_codes"] == [1002012]
    unknown = httpx.post(
        url,
        verify=emulator.verify,
        data={
            "grant_type": "client_credentials",
            "client_id": "00000000-0000-0000-0000-000000000001",
            "client_secret": "x",
            "scope": f"{emulator.org_url}/.default",
        },
    ).json()
    assert unknown["error"] == "unauthorized_client" and unknown["error_codes"] == [700016]


def test_tampered_token_gets_the_challenge(emulator):
    token = emulator.token()
    with httpx.Client(verify=emulator.verify) as client:
        response = client.get(emulator.api_url + "WhoAmI", headers={"Authorization": f"Bearer {token[:-4]}abcd"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")


def test_short_lived_tokens_expire_into_the_challenge(start_emulator):
    # three seconds: long enough that the first call is in time on a loaded machine, short for a test
    emu = start_emulator(scale=50, token_lifetime=3)
    token = emu.token()
    issued = time.monotonic()
    with httpx.Client(verify=emu.verify, headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get(emu.api_url + "WhoAmI").status_code == 200
        time.sleep(max(0.0, issued + 4.1 - time.monotonic()))
        expired = client.get(emu.api_url + "WhoAmI")
    assert expired.status_code == 401 and "authorization_uri=" in expired.headers["WWW-Authenticate"]


def test_the_microsoft_sample_public_client_signs_users_in_without_a_secret(emulator) -> None:
    import httpx

    form = {
        "grant_type": "password",
        "client_id": "51f81489-12ee-4a9e-aaae-a2591f45987d",
        "username": emulator.username,
        "password": emulator.password,
        "scope": f"{emulator.org_url}/.default",
    }
    url = f"{emulator.authority}/oauth2/v2.0/token"
    ok = httpx.post(url, data=form, verify=emulator.verify)
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
    with_secret = httpx.post(url, data={**form, "client_secret": "x"}, verify=emulator.verify)
    assert with_secret.status_code == 401 and "AADSTS700025" in with_secret.json()["error_description"]
    app_grant = httpx.post(
        url,
        data={**{k: form[k] for k in ("client_id", "scope")}, "grant_type": "client_credentials"},
        verify=emulator.verify,
    )
    assert app_grant.status_code == 400
