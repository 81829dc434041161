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

from flowservice.domain import deadlines
from flowservice.domain.errors import SourceRefused, SourceUnavailable

from .settings import DynamicsSettings, Resolver
from .tls import ssl_context

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


_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: IPv4-mapped, IPv4-compatible, 6to4 (``2002:…``), NAT64
    (``64:ff9b::…``, RFC 6052, and the local-use ``64:ff9b:1::/48`` of RFC 8215) and Teredo's client. Any of
    these forms reaches the embedded address through a translator, so it is judged as that address."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    value = int(ip)
    if ip in _NAT64[0] or ip in _NAT64[1]:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if ip in _IPV4_COMPATIBLE and value > 1:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def refusal(address: str, *, allow_private: bool) -> str | None:
    """Why ``address`` may not be contacted, or ``None`` when it may."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    kind = refused_kind(ip, allow_private=allow_private)
    if kind is None:
        return None
    inner = embedded_ipv4(ip)
    return f"{ip} embeds {inner}, {kind}" if inner is not None else f"{ip} is {kind}"


def refused_kind(ip: IPAddress, *, allow_private: bool) -> str | None:
    """What kind of refused address ``ip`` is (``"a private address"``...); an IPv6 form of an IPv4 address
    is judged as the address it embeds."""
    ip = embedded_ipv4(ip) or ip
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified or ip.is_multicast:
        return "not a unicast host address"
    if allow_private:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_private or ip.is_reserved or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED):
        return "a private address"
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
    literal = bool(_literal_address(host))
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        kind = refused_kind(ip, allow_private=allow_private)
        if kind:
            hint = (
                ""
                if "metadata" in kind or "link-local" in kind or "unicast" in kind
                else ("; the operator may allow private addresses for development")
            )
            if literal:
                why = refusal(address, allow_private=allow_private)
                raise SourceRefused(f"serviceUri host {host} is refused: {why}{hint}")
            # a host name: say what kind of address it resolves to, never which (no oracle of internal DNS)
            raise SourceRefused(f"serviceUri host {host} is refused: it resolves to {kind}{hint}")
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


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write obeys the deadline of the operation using it right now (see
    ``domain.deadlines``): a kept-alive connection serves operations with different deadlines. A blocked read
    is interrupted when the operation is cancelled (its socket is shut down)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = deadlines.current()
        if deadline is None:
            return self._inner.read(max_bytes, timeout)
        with deadline.on_cancel(self._interrupt):
            try:
                return self._inner.read(max_bytes, deadline.timeout(timeout))
            except (httpcore.ReadTimeout, httpcore.ReadError):
                deadline.check()  # the deadline (or a cancellation) is what cut the read short
                raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        deadline = deadlines.current()
        if deadline is None:
            self._inner.write(buffer, timeout)
            return
        with deadline.on_cancel(self._interrupt):
            try:
                self._inner.write(buffer, deadline.timeout(timeout))
            except (httpcore.WriteTimeout, httpcore.WriteError):
                deadline.check()
                raise

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        deadline = deadlines.current()
        if deadline is not None:
            timeout = deadline.timeout(timeout)
        try:
            return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))
        except (httpcore.ConnectTimeout, httpcore.ConnectError):
            if deadline is not None:
                deadline.check()
            raise

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)

    def _interrupt(self) -> None:
        sock = self._inner.get_extra_info("socket")
        if sock is not None:
            # the plain socket's shutdown, also under TLS: it wakes the thread blocked in a read on this socket
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass  # already shut or closed: nothing is blocked on it


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
        deadline = deadlines.current()
        last: Exception | None = None
        for address in addresses:  # connect to the checked address itself, never re-resolve
            if deadline is not None:
                timeout = deadline.timeout(timeout)
            try:
                return _DeadlineStream(super().connect_tcp(address, port, timeout, local_address, socket_options))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        if deadline is not None:
            deadline.check()
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


def guarded_transport(settings: DynamicsSettings, max_connections: int) -> httpx.BaseTransport:
    """The transport of every request to Dataverse and Entra ID (``settings.transport`` in unit tests)."""
    if settings.transport is not None:
        return settings.transport
    return GuardedTransport(
        ssl_context(settings.ca_bundle),
        allow_private=settings.allow_private_addresses,
        resolver=settings.resolver,
        max_connections=max_connections,
    )
