"""Operator settings of the Dynamics source: one frozen object, built by ``bootstrap`` from the product
settings and shared by every ``DynamicsSource`` (which the service creates per request)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

#: Microsoft's sample public client for Dataverse (``authenticate-oauth.md``); ROPC needs *a* public client.
DEFAULT_PUBLIC_CLIENT_ID = "51f81489-12ee-4a9e-aaae-a2591f45987d"

#: Entra ID login hosts: the public cloud, US Government, China (21Vianet), Germany, and the two older
#: aliases of the public cloud that long-lived orgs still put in their challenge (``login.windows.net``).
MICROSOFT_AUTHORITY_HOSTS: tuple[str, ...] = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.microsoftonline.de",
    "login.windows.net",
    "login.microsoft.com",
)

#: Dataverse answers at most 52 concurrent requests per user and web server (``api-limits.md``).
DATAVERSE_MAX_CONCURRENCY = 52

Resolver = Callable[[str, int], Sequence[str]]


@dataclass(frozen=True)
class DynamicsSettings:
    """How the Dynamics source talks to Entra ID and Dataverse.

    ``transport`` and ``resolver`` exist for tests (an ``httpx.MockTransport`` and a fake DNS); in production
    both stay ``None`` and every connection goes through the address guard of :mod:`.uri`.
    """

    authority_hosts_extra: tuple[str, ...] = ()
    ca_bundle: str | None = None
    allow_private_addresses: bool = False
    public_client_id: str = DEFAULT_PUBLIC_CLIENT_ID
    connect_timeout: float = 10.0
    read_timeout: float = 120.0  # Dataverse's own server-side limit is about two minutes per request
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_retry_after: float = 120.0  # a longer Retry-After fails the call (retryable) instead of blocking it
    #: total time one call (a page, a metadata document, WhoAmI) may spend waiting between its attempts
    max_retry_wait_seconds: float = 300.0
    #: total time of one call, its retries included, whatever the server sends (a slow drip included)
    call_deadline_seconds: float = 600.0
    #: total time of one token acquisition (MSAL's discovery, user realm, federation and token requests)
    token_deadline_seconds: float = 60.0
    #: decoded bytes of one page of rows
    max_page_bytes: int = 64 * 2**20
    #: decoded bytes of one metadata answer (EntityDefinitions, Attributes, WhoAmI)
    max_metadata_bytes: int = 16 * 2**20
    #: decoded bytes of one Entra ID answer (OpenID configuration, user realm, MEX, WS-Trust, token)
    max_auth_bytes: int = 1 * 2**20
    #: decoded bytes of any answer that is not a success (errors, the 401 challenge)
    max_error_bytes: int = 64 * 2**10
    #: connections whose token, limiter and metadata are kept in memory (least recently used evicted)
    cached_connections: int = 256
    #: a connection's cached state is dropped after this long without use
    connection_idle_seconds: float = 3600.0
    metadata_ttl_seconds: float = 900.0
    max_concurrency: int = 16
    token_refresh_margin: float = 300.0  # refresh tokens this long before they expire
    lookup_targets: bool = True  # add `<lookup>_lookuplogicalname` columns for polymorphic lookups
    watermark_lookback_seconds: float = 0.0
    #: pages a read fetches ahead of the one being converted (0: none); each holds a page's bytes in memory
    read_ahead_pages: int = 1
    transport: httpx.BaseTransport | None = field(default=None, compare=False)
    resolver: Resolver | None = field(default=None, compare=False)
    #: how retries wait; None waits on the operation's deadline (cancellation wakes it up). Tests pass a fake.
    sleep: Callable[[float], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.max_concurrency <= DATAVERSE_MAX_CONCURRENCY:
            raise ValueError(f"max_concurrency must be between 1 and {DATAVERSE_MAX_CONCURRENCY}")
        if self.read_ahead_pages < 0:
            raise ValueError("read_ahead_pages must be >= 0")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        for name in ("max_page_bytes", "max_metadata_bytes", "max_auth_bytes", "max_error_bytes", "cached_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("call_deadline_seconds", "token_deadline_seconds", "connection_idle_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        object.__setattr__(
            self, "authority_hosts_extra", tuple(h.strip().lower() for h in self.authority_hosts_extra if h.strip())
        )

    @property
    def authority_hosts(self) -> frozenset[str]:
        return frozenset(MICROSOFT_AUTHORITY_HOSTS) | frozenset(self.authority_hosts_extra)
