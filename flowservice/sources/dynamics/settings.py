"""Operator settings of the Dynamics source: one frozen object, built by ``bootstrap`` from the product
settings and shared by every ``DynamicsSource`` (which the service creates per request)."""

from __future__ import annotations

import time
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
    max_retry_after: float = 300.0  # a longer Retry-After fails the run (retryable) instead of blocking it
    metadata_ttl_seconds: float = 900.0
    max_concurrency: int = 16
    token_refresh_margin: float = 300.0  # refresh tokens this long before they expire
    lookup_targets: bool = True  # add `<lookup>_lookuplogicalname` columns for polymorphic lookups
    watermark_lookback_seconds: float = 0.0
    #: pages a read fetches ahead of the one being converted (0: none); each holds a page's bytes in memory
    read_ahead_pages: int = 1
    transport: httpx.BaseTransport | None = field(default=None, compare=False)
    resolver: Resolver | None = field(default=None, compare=False)
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.max_concurrency <= DATAVERSE_MAX_CONCURRENCY:
            raise ValueError(f"max_concurrency must be between 1 and {DATAVERSE_MAX_CONCURRENCY}")
        if self.read_ahead_pages < 0:
            raise ValueError("read_ahead_pages must be >= 0")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        object.__setattr__(
            self, "authority_hosts_extra", tuple(h.strip().lower() for h in self.authority_hosts_extra if h.strip())
        )

    @property
    def authority_hosts(self) -> frozenset[str]:
        return frozenset(MICROSOFT_AUTHORITY_HOSTS) | frozenset(self.authority_hosts_extra)
