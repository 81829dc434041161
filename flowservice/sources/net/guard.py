"""The address guard every HTTP source shares: a URL a tenant types must not turn our server into a proxy for
its own network.

Every address a host resolves to is inspected before the first request. Link-local and cloud-metadata addresses
are always refused; loopback, private, shared (CGNAT) and reserved ones unless the operator allows private
addresses (the demo and the tests do). An IPv6 form of an IPv4 address (mapped, 6to4, NAT64, Teredo) is judged
as the address it embeds. :class:`GuardedTransport` repeats the check at connect time, on the addresses the
socket really connects to, so a DNS answer that changes after the check (rebinding) cannot reach a refused
address; every read and write of its connections obeys the current deadline (``domain.deadlines``).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import httpcore
import httpx

from flowservice.domain import deadlines
from flowservice.domain.errors import SourceRefused, SourceUnavailable

#: How host names are resolved: ``(host, port) -> addresses`` (tests pass a fake DNS).
Resolver = Callable[[str, int], Sequence[str]]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The most a connection's read returns (httpcore asks for 64 KiB; a read takes every TLS record ready, up to this).
READ_BYTES = 256 * 1024

#: Instance-metadata endpoints of AWS (v4 and v6), GCP and Azure (169.254.169.254), Alibaba (100.100.100.200),
#: and Azure's wire server (168.63.129.16, a public address that only ever means the host platform).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: private in practice


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


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a source may connect to, and the words its refusals use: ``Could not resolve the
    {service} host …`` and ``{field} host … is refused`` (``field`` names the parameter the tenant typed)."""

    allow_private: bool
    resolver: Resolver | None = None
    service: str = "source"
    field: str = "host"

    def resolve(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` and refuse it if *any* of its addresses is refused."""
        addresses = _literal_address(host)
        if not addresses:
            try:
                addresses = list(dict.fromkeys((self.resolver or system_resolver)(host, port)))
            except OSError as exc:
                raise SourceUnavailable(f"Could not resolve the {self.service} host {host}: {exc}") from None
        if not addresses:
            raise SourceUnavailable(f"Could not resolve the {self.service} host {host}")
        literal = bool(_literal_address(host))
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            kind = refused_kind(ip, allow_private=self.allow_private)
            if kind:
                hint = (
                    ""
                    if "metadata" in kind or "link-local" in kind or "unicast" in kind
                    else ("; the operator may allow private addresses for development")
                )
                if literal:
                    why = refusal(address, allow_private=self.allow_private)
                    raise SourceRefused(f"{self.field} host {host} is refused: {why}{hint}")
                # a host name: say what kind of address it resolves to, never which (no oracle of internal DNS)
                raise SourceRefused(f"{self.field} host {host} is refused: it resolves to {kind}{hint}")
        return addresses


def _literal_address(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return []


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
            return self._with_ready(self._inner.read(max_bytes, timeout), max_bytes)
        with deadline.on_cancel(self._interrupt):
            try:
                return self._with_ready(self._inner.read(max_bytes, deadline.timeout(timeout)), max_bytes)
            except (httpcore.ReadTimeout, httpcore.ReadError):
                deadline.check()  # the deadline (or a cancellation) is what cut the read short
                raise

    def _with_ready(self, data: bytes, max_bytes: int) -> bytes:
        """``data`` and whatever else the socket holds already, up to ``READ_BYTES``, read without waiting.

        A TLS read returns one record (16 KB at most), and each read costs HTTP/1.1's Python layers (httpcore,
        h11) about as much CPU as decrypting it; a large body arrives as many records at once, so they are
        taken in one read (measured: a third less CPU per fetched row, docs/performance.md)."""
        size = max(max_bytes, READ_BYTES)
        sock = self._inner.get_extra_info("socket")
        if not data or len(data) >= size or sock is None:
            return data
        buffer = bytearray(size)
        view = memoryview(buffer)
        got = len(data)
        view[:got] = data
        previous = sock.gettimeout()
        sock.settimeout(0)  # what is there now, never a wait
        try:
            while got < size:
                count = sock.recv_into(view[got:])
                if not count:
                    break  # the peer closed: the next read says so
                got += count
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            pass  # nothing more yet
        except OSError:
            pass  # a failed connection: the next read raises it, after these bytes are taken
        finally:
            sock.settimeout(previous)
        return bytes(view[:got])

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
    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._policy.resolve(host, port)
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

    def __init__(self, ssl_context: ssl.SSLContext, policy: AddressPolicy, *, max_connections: int) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            http1=True,
            http2=False,
            network_backend=_GuardedBackend(policy),
        )
