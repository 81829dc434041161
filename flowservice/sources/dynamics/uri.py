"""``serviceUri`` of a Dynamics org: the URL a tenant types must not turn our server into a proxy for its own
network.

Checks, all before the first request: ``https`` only; no userinfo, query or fragment; an origin, not a page;
every address the host resolves to is inspected by the shared address guard (:mod:`flowservice.sources.net.guard`:
link-local and cloud-metadata addresses always refused, private ones unless the operator allows them), which
checks again at connect time on the addresses the socket really connects to.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from flowservice.domain.errors import SourceRefused
from flowservice.sources.net.guard import AddressPolicy, GuardedTransport, Resolver
from flowservice.sources.net.tls import ssl_context

from .settings import DynamicsSettings


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


def address_policy(allow_private: bool, resolver: Resolver | None) -> AddressPolicy:
    return AddressPolicy(allow_private, resolver, service="Dynamics", field="serviceUri")


def resolve_checked(host: str, port: int, *, allow_private: bool, resolver: Resolver | None) -> list[str]:
    """Resolve ``host`` and refuse it if *any* of its addresses is refused."""
    return address_policy(allow_private, resolver).resolve(host, port)


def check_service_uri(raw: object, *, allow_private: bool, resolver: Resolver | None = None) -> ServiceUri:
    uri = parse_service_uri(raw)
    resolve_checked(uri.host, uri.port, allow_private=allow_private, resolver=resolver)
    return uri


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
        address_policy(settings.allow_private_addresses, settings.resolver),
        max_connections=max_connections,
    )
