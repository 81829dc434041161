"""serviceUri checks happen before any request and cannot be talked around."""

from __future__ import annotations

import httpx
import pytest

from flowservice.domain.errors import SourceRefused
from flowservice.sources.dynamics import DynamicsSettings, DynamicsSource
from flowservice.sources.dynamics.uri import check_service_uri, parse_service_uri, same_origin
from flowservice.sources.net.guard import refusal

from .fake_dataverse import PASSWORD, USERNAME


def no_network(request: httpx.Request) -> httpx.Response:
    pytest.fail(f"a request was sent to {request.url}")


def settings_without_network(**overrides: object) -> DynamicsSettings:
    return DynamicsSettings(transport=httpx.MockTransport(no_network), **overrides)  # type: ignore[arg-type]


def source(uri: str, settings: DynamicsSettings) -> DynamicsSource:
    return DynamicsSource(
        {"serviceUri": uri, "username": USERNAME, "password": PASSWORD}, auth_kind="basic", settings=settings
    )


def test_refuses_link_local_service_uri_before_any_request():
    src = source("https://169.254.169.254/", settings_without_network(allow_private_addresses=True))
    with pytest.raises(SourceRefused, match="metadata"):
        src.check()
    with pytest.raises(SourceRefused, match="metadata"):
        list(src.list_tables())


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "[fd00:ec2::254]",
        "100.100.100.200",
        "169.254.10.1",
        "[fe80::1]",
        "[::ffff:169.254.169.254]",
        "0.0.0.0",
    ],
)
def test_refuses_metadata_and_link_local_addresses_even_when_private_ones_are_allowed(host):
    with pytest.raises(SourceRefused):
        check_service_uri(f"https://{host}/", allow_private=True)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "10.1.2.3", "192.168.0.5", "172.16.4.4", "[::1]", "[fd12::1]", "100.64.0.1"]
)
def test_refuses_loopback_and_private_hosts_unless_the_operator_allows_them(host):
    with pytest.raises(SourceRefused, match=r"private|loopback"):
        check_service_uri(f"https://{host}:8443", allow_private=False)
    assert check_service_uri(f"https://{host}:8443", allow_private=True).port == 8443


def test_refuses_a_host_name_that_resolves_to_a_private_address_without_naming_the_address():
    with pytest.raises(SourceRefused, match=r"intranet\.example is refused: it resolves to a private") as caught:
        check_service_uri(
            "https://intranet.example", allow_private=False, resolver=lambda host, port: ["20.1.1.1", "10.0.0.7"]
        )
    assert "10.0.0.7" not in caught.value.message


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.7", "2002:a9fe:a9fe::1", "64:ff9b::a00:7"])
def test_the_refusal_of_an_internal_host_name_never_reports_its_resolved_address(address):
    with pytest.raises(SourceRefused) as caught:
        check_service_uri("https://internal.example", allow_private=False, resolver=lambda host, port: [address])
    assert address not in caught.value.message and "internal.example" in caught.value.message
    assert "a9fe" not in caught.value.message and "169.254" not in caught.value.message


@pytest.mark.parametrize(
    "host",
    [
        "[2002:a9fe:a9fe::]",  # 6to4 of 169.254.169.254
        "[2002:a9fe:a9fe:1234::1]",
        "[64:ff9b::a9fe:a9fe]",  # NAT64 (RFC 6052) of 169.254.169.254
        "[64:ff9b::169.254.169.254]",
        "[64:ff9b:1::a9fe:a9fe]",  # local-use NAT64 (RFC 8215)
        "[2002:6464:64c8::]",  # 6to4 of Alibaba's 100.100.100.200
        "[64:ff9b::a83f:8110]",  # NAT64 of Azure's wire server 168.63.129.16
        "[2002:a9fe:0a01::]",  # 6to4 of a link-local address
        "[::169.254.169.254]",  # IPv4-compatible
        "[::ffff:a9fe:a9fe]",  # IPv4-mapped, hexadecimal form
    ],
)
def test_six_to_four_and_nat64_forms_of_metadata_addresses_are_refused_even_when_private_ones_are_allowed(host):
    with pytest.raises(SourceRefused, match=r"metadata|link-local"):
        check_service_uri(f"https://{host}/", allow_private=True)


@pytest.mark.parametrize(
    "host",
    ["[2002:0a00:0007::]", "[64:ff9b::10.0.0.7]", "[2002:7f00:0001::]", "[::ffff:127.0.0.1]", "[64:ff9b::c0a8:0001]"],
)
def test_six_to_four_and_nat64_forms_of_private_addresses_are_refused_like_the_addresses_they_embed(host):
    with pytest.raises(SourceRefused, match=r"private|loopback"):
        check_service_uri(f"https://{host}/", allow_private=False)
    assert check_service_uri(f"https://{host}/", allow_private=True).host


def test_a_nat64_form_of_a_public_address_is_allowed():
    assert refusal("64:ff9b::1432:20a", allow_private=False) is None  # 20.50.2.10


def test_refuses_a_host_name_resolving_to_metadata_before_any_request():
    settings = settings_without_network(resolver=lambda host, port: ["169.254.169.254"])
    with pytest.raises(SourceRefused, match="metadata"):
        source("https://sneaky.example.com", settings).check()


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://contoso.crm.dynamics.com", "https"),
        ("ftp://contoso.crm.dynamics.com", "https"),
        ("https://user:pw@contoso.crm.dynamics.com", "user name"),
        ("https://user@contoso.crm.dynamics.com", "user name"),
        ("https://contoso.crm.dynamics.com/?x=1", "query"),
        ("https://contoso.crm.dynamics.com/#frag", "fragment"),
        ("https://contoso.crm.dynamics.com/main.aspx", "path"),
        ("https://", "host"),
        ("", "required"),
        ("https://contoso.crm.dynamics.com:99999", "valid URL"),
    ],
)
def test_refuses_malformed_service_uris_with_a_clear_reason(uri, reason):
    with pytest.raises(SourceRefused, match=reason):
        parse_service_uri(uri)


def test_accepts_a_public_org_url_and_normalises_it_to_its_origin():
    uri = check_service_uri(
        "https://Contoso.CRM.dynamics.com/", allow_private=False, resolver=lambda host, port: ["20.50.2.10"]
    )
    assert uri.origin == "https://contoso.crm.dynamics.com"
    assert uri.api_root == "https://contoso.crm.dynamics.com/api/data/v9.2/"


def test_public_addresses_are_allowed():
    assert refusal("20.50.2.10", allow_private=False) is None
    assert refusal("2603:1030::1", allow_private=False) is None


def test_only_links_on_the_organization_itself_are_followed():
    uri = parse_service_uri("https://contoso.crm.dynamics.com")
    assert same_origin("https://contoso.crm.dynamics.com/api/data/v9.2/accounts?$skiptoken=x", uri)
    assert not same_origin("https://evil.example/api/data/v9.2/accounts", uri)
    assert not same_origin("http://contoso.crm.dynamics.com/api/data/v9.2/accounts", uri)
    assert not same_origin("https://contoso.crm.dynamics.com:444/api/data/v9.2/accounts", uri)
    assert not same_origin("https://contoso.crm.dynamics.com/other", uri)


def test_a_dns_answer_that_changes_after_the_check_cannot_reach_a_refused_address():
    answers = iter([["20.50.2.10"], ["169.254.169.254"]])  # the check sees a public address, the connect not

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers, ["169.254.169.254"])

    settings = DynamicsSettings(resolver=rebinding)  # the real guarded transport, no mock
    with pytest.raises(SourceRefused, match="metadata"):
        source("https://rebind.example.com", settings).check()
