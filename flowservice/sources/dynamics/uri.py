"""``serviceUri`` safety: the URL a tenant types must not turn our server into a proxy for its own network.

Checks, all before the first request: ``https`` only; no userinfo, query or fragment; an origin, not a page;
every address the host resolves to is inspected. Link-local and cloud-metadata addresses are always refused;
loopback, private, shared (CGNAT) and reserved ones unless the operator allows private addresses (the demo and
the tests do). :class:`GuardedTransport` repeats the address check at connect time, on the addresses the socket
really connects to, so a DNS answer that changes after the check (rebinding) cannot reach a refused address.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

from flowservice.domain.errors import SourceRefused, SourceUnavailable

from .settings import Resolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Instance-metadata endpoints of AWS (v4 and v6), GCP and Azure (169.254.169.254), Alibaba (100.100.100.200),
#: and Azure's wire server (168.63.129.16, a public address that only ever means the host platform).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: private in practice


@dataclass(frozen=True)
class ServiceUri:
    """A checked organization URL: ``origin`` is ``https://host[:port]`` without a trailing slash."""

    origin: str
    host: str
    port: int

    @property
    def api_root(self) -> str:
        return f"{self.origin}/api/data/v9.2/"


def parse_service_uri(raw: object) -> ServiceUri:
    """Syntax checks only (no I/O)."""
    if not isinstance(raw, str) or not raw.strip():
        raise SourceRefused("serviceUri is required, e.g. https://contoso.crm.dynamics.com")
    text = raw.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise SourceRefused(f"serviceUri is not a valid URL: {exc}") from None
    if parts.scheme.lower() != "https":
        raise SourceRefused("serviceUri must use https (Dataverse is only served over TLS)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise SourceRefused("serviceUri must not contain a user name or password; use the auth parameters")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise SourceRefused("serviceUri must not contain a query or a fragment")
    if parts.path not in ("", "/"):
        raise SourceRefused(
            "serviceUri must be the organization URL without a path, e.g. https://contoso.crm.dynamics.com"
        )
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise SourceRefused("serviceUri has no host name")
    port = port or 443
    shown = f"[{host}]" if ":" in host else host
    origin = f"https://{shown}" if port == 443 else f"https://{shown}:{port}"
    return ServiceUri(origin=origin, host=host, port=port)


def refusal(address: str, *, allow_private: bool) -> str | None:
    """Why ``address`` may not be contacted, or ``None`` when it may."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return f"{ip} is a cloud metadata address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_unspecified or ip.is_multicast:
        return f"{ip} is not a unicast host address"
    if allow_private:
        return None
    if ip.is_loopback:
        return f"{ip} is a loopback address"
    if ip.is_private or ip.is_reserved or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED):
        return f"{ip} is a private address"
    return None


def system_resolver(host: str, port: int) -> Sequence[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def resolve_checked(host: str, port: int, *, allow_private: bool, resolver: Resolver | None) -> list[str]:
    """Resolve ``host`` and refuse it if *any* of its addresses is refused."""
    addresses = _literal_address(host)
    if not addresses:
        try:
            addresses = list(dict.fromkeys((resolver or system_resolver)(host, port)))
        except OSError as exc:
            raise SourceUnavailable(f"Could not resolve the Dynamics host {host}: {exc}") from None
    if not addresses:
        raise SourceUnavailable(f"Could not resolve the Dynamics host {host}")
    for address in addresses:
        reason = refusal(address, allow_private=allow_private)
        if reason:
            shown = host if host == address else f"{host} ({address})"
            hint = "" if "metadata" in reason or "link-local" in reason or "unicast" in reason else (
                "; the operator may allow private addresses for development"
            )
            raise SourceRefused(f"serviceUri host {shown} is refused: {reason}{hint}")
    return addresses


def _literal_address(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return []


def check_service_uri(raw: object, *, allow_private: bool, resolver: Resolver | None = None) -> ServiceUri:
    uri = parse_service_uri(raw)
    resolve_checked(uri.host, uri.port, allow_private=allow_private, resolver=resolver)
    return uri


class AddressRefused(Exception):
    """Raised by the guarded network backend; httpx lets non-httpcore exceptions through unchanged."""


class _GuardedBackend(httpcore.SyncBackend):
    def __init__(self, allow_private: bool, resolver: Resolver | None) -> None:
        self._allow_private = allow_private
        self._resolver = resolver

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve_checked(host, port, allow_private=self._allow_private, resolver=self._resolver)
        except SourceRefused as exc:
            raise AddressRefused(exc.message) from None
        except SourceUnavailable as exc:
            raise httpcore.ConnectError(exc.message) from None
        last: Exception | None = None
        for address in addresses:  # connect to the checked address itself, never re-resolve
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


class GuardedTransport(httpx.HTTPTransport):
    """An HTTP/1.1 transport whose every TCP connection goes through the address check.

    TLS still verifies the certificate against the URL's host name (SNI is taken from the request, not from
    the address we connect to). Environment proxies are ignored: a proxy would resolve names for us.
    """

    def __init__(
        self, ssl_context: ssl.SSLContext, *, allow_private: bool, resolver: Resolver | None, max_connections: int
    ) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            http1=True,
            http2=False,
            network_backend=_GuardedBackend(allow_private, resolver),
        )


def same_origin(url: str, uri: ServiceUri) -> bool:
    """Links the server hands us (nextLink, deltaLink) and cursors given back must stay on the org."""
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        return False
    return (
        parts.scheme.lower() == "https"
        and (parts.hostname or "").lower().rstrip(".") == uri.host
        and port == uri.port
        and parts.username is None
        and parts.path.startswith("/api/data/")
    )
