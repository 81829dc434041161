"""Entra ID authority discovery, the allow-list, token caching and secret hygiene."""

from __future__ import annotations

import dataclasses

import pytest

from flowservice.domain.errors import SourceAuthError, SourceRefused, SourceUnavailable
from flowservice.sources.dynamics import DynamicsSettings
from flowservice.sources.dynamics.auth import authority_from_challenge, scrub

from .fake_dataverse import CLIENT_SECRET, PASSWORD, TENANT, FakeDataverse

MICROSOFT = frozenset({"login.microsoftonline.com"})


def test_reads_the_authority_from_an_unquoted_dataverse_challenge():
    header = (
        f"Bearer authorization_uri=https://login.microsoftonline.com/{TENANT}/oauth2/authorize, "
        "resource_id=https://contoso.crm.dynamics.com/"
    )
    assert authority_from_challenge(header, MICROSOFT) == f"https://login.microsoftonline.com/{TENANT}"


def test_reads_a_quoted_challenge_with_a_port_when_that_host_is_allowed():
    header = 'Bearer authorization_uri="https://127.0.0.1:8443/tenant-1/oauth2/authorize", resource_id="x"'
    assert authority_from_challenge(header, frozenset({"127.0.0.1:8443"})) == "https://127.0.0.1:8443/tenant-1"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer authorization_uri=https://login.evil.example/t/oauth2/authorize, resource_id=x",
        "Bearer authorization_uri=https://login.microsoftonline.com.evil.example/t/oauth2/authorize",
        "Bearer authorization_uri=https://127.0.0.1:9999/t/oauth2/authorize",
    ],
)
def test_refuses_an_authority_host_that_is_not_allowed(header):
    with pytest.raises(SourceRefused, match="not an allowed Entra ID login host"):
        authority_from_challenge(header, MICROSOFT | {"127.0.0.1:8443"})


@pytest.mark.parametrize("header", [None, "", "Basic realm=x", "Bearer resource_id=x"])
def test_refuses_an_answer_without_a_bearer_challenge(header):
    with pytest.raises(SourceRefused, match="bearer challenge"):
        authority_from_challenge(header, MICROSOFT)


def test_refuses_a_plain_http_authority():
    with pytest.raises(SourceRefused, match="unusable authority"):
        authority_from_challenge(
            "Bearer authorization_uri=http://login.microsoftonline.com/t/oauth2/authorize", MICROSOFT
        )


def test_a_challenge_naming_a_foreign_authority_sends_no_credentials(make_source, fake: FakeDataverse):
    fake.fail(
        "/api/data/v9.2/",
        401,
        headers={"WWW-Authenticate": "Bearer authorization_uri=https://login.evil.example/t/oauth2/authorize"},
    )
    with pytest.raises(SourceRefused, match=r"login\.evil\.example"):
        make_source().check()
    assert fake.token_requests == 0
    assert all(r.url.host != "login.evil.example" for r in fake.requests)


def test_basic_auth_signs_in_with_the_password_grant_and_calls_who_am_i(source, fake: FakeDataverse):
    source.check()
    [token_call] = [r for r in fake.requests if r.url.path.endswith("/token")]
    assert b"grant_type=password" in token_call.content
    assert b"scope=https%3A%2F%2Fcontoso.crm.dynamics.com%2F.default" in token_call.content
    assert fake.api_requests("WhoAmI")[0].headers["Authorization"] == "Bearer token-1"


def test_service_principal_uses_client_credentials(make_source, fake: FakeDataverse):
    make_source("service_principal").check()
    [token_call] = [r for r in fake.requests if r.url.path.endswith("/token")]
    assert b"grant_type=client_credentials" in token_call.content


def test_wrong_password_is_an_auth_error_naming_entra_code_but_never_the_password(make_source, fake):
    fake.entra_echo_password = True
    with pytest.raises(SourceAuthError) as caught:
        make_source(password="hunter2-wrong").check()
    message = caught.value.message
    assert "invalid_grant" in message and "AADSTS50126" in message
    assert "hunter2-wrong" not in message and "hunter2" not in str(caught.value)


def test_wrong_client_secret_never_appears_in_the_error(make_source, fake):
    fake.entra_echo_password = True
    with pytest.raises(SourceAuthError) as caught:
        make_source("service_principal", servicePrincipalKey="p@ss w0rd/+").check()
    assert "invalid_client" in caught.value.message and "AADSTS7000215" in caught.value.message
    assert "p@ss w0rd/+" not in caught.value.message
    assert "p%40ss" not in caught.value.message and "w0rd" not in caught.value.message


def test_scrub_removes_raw_and_encoded_forms_of_a_secret():
    assert scrub("x a b/c y a+b%2Fc z a%20b%2Fc", ["a b/c"]) == "x *** y *** z ***"


def test_tokens_are_cached_per_connection_across_source_instances(make_source, fake):
    make_source().check()
    make_source().check()
    assert fake.token_requests == 1
    assert (
        len(fake.api_requests("/api/data/v9.2/?"))
        + len([r for r in fake.api_requests() if r.url.path == "/api/data/v9.2/"])
        == 1
    )  # one challenge


def test_tokens_are_refreshed_before_they_expire(make_source, fake, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr("flowservice.sources.dynamics.auth.time.time", lambda: clock[0])
    src = make_source()
    src.check()
    clock[0] += 3599 - 400  # still 400 s left: the cached token is used
    src.check()
    assert fake.token_requests == 1
    clock[0] += 200  # 200 s left, inside the 300 s margin: refreshed before Dataverse would refuse it
    src.check()
    assert fake.token_requests == 2


def test_a_revoked_token_is_refreshed_once_and_the_call_succeeds(source, fake):
    source.check()
    fake.tokens.clear()  # the org no longer accepts the cached token
    source.check()
    assert fake.token_requests == 2


def test_a_token_refused_even_after_refresh_is_an_auth_error(source, fake):
    source.check()
    fake.fail("WhoAmI", 401, times=5, headers={"WWW-Authenticate": "Bearer authorization_uri=x"})
    with pytest.raises(SourceAuthError, match="even after a refresh"):
        source.check()
    assert fake.token_requests == 2


def test_entra_unreachable_is_unavailable_not_an_auth_failure(make_source, fake, settings: DynamicsSettings):
    fake.fail("openid-configuration", 503, times=10)
    with pytest.raises(SourceUnavailable):
        make_source(settings_=dataclasses.replace(settings)).check()


def test_a_forbidden_user_is_an_auth_error_with_the_dataverse_code(source, fake):
    fake.fail(
        "WhoAmI",
        403,
        body={"error": {"code": "0x80072560", "message": "The user is not a member of the organization."}},
    )
    with pytest.raises(SourceAuthError, match=r"0x80072560.*not a member"):
        source.check()


def test_password_is_absent_from_every_error_the_source_raises(make_source, fake):
    fake.entra_echo_password = True
    actions = [lambda s: s.check(), lambda s: list(s.list_tables()), lambda s: s.describe("account")]
    errors = []
    for action in actions:
        try:
            action(make_source(password=PASSWORD + "!"))
        except Exception as exc:
            errors.append(exc)
    assert len(errors) == 3
    for error in errors:
        assert PASSWORD not in str(error) and PASSWORD not in getattr(error, "message", "")
        assert CLIENT_SECRET not in str(error)
