"""Operator settings of the Dynamics source: :class:`DynamicsEnvironment` reads them from the environment
(``FLOWSERVICE_DYNAMICS_*``, and two older names), and :class:`DynamicsSettings` is the frozen object every
``DynamicsSource`` (which the service creates per request) shares; tests build the latter directly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from flowservice.sources.net.guard import Resolver
from flowservice.sources.net.retry import RetryPolicy

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
    #: an explore's client takes cached metadata this much younger at most (``ports.EXPLORING``)
    explore_metadata_seconds: float = 60.0
    max_concurrency: int = 16
    token_refresh_margin: float = 300.0  # refresh tokens this long before they expire
    lookup_targets: bool = True  # add `<lookup>_lookuplogicalname` columns for polymorphic lookups
    #: a changed org version (not only a changed org id) makes the next run read in full (``org.py``)
    resync_on_org_version: bool = True
    watermark_lookback_seconds: float = 0.0
    #: pages a read fetches ahead of the one being converted (0: none); each holds a page's bytes in memory
    read_ahead_pages: int = 1
    #: a first full read of a change-tracked table with at least this many rows may be read in key ranges side
    #: by side (``partitions.py``); 0 turns partitioned reads off
    partition_min_rows: int = 20000
    #: ... and is, when the org answers a probe of its first rows at fewer rows per second than this (a slow
    #: org, where ranges side by side are several times faster); a faster org is read by the single chain,
    #: which is then faster and lighter (docs/performance.md). 0: partition whatever the speed
    partition_below_rows_per_second: float = 5000.0
    #: worker threads of a partitioned read (their requests also go through the connection's limiter); with the
    #: key scan's one request, a partitioned read never has more than 52 in flight
    partition_concurrency: int = 12
    #: pages fetched and not yet handed to the engine, shared by every partition of a read
    partition_pages_in_flight: int = 12
    #: rows per page of a partitioned read, key scan and partitions alike (capped by the table's maximum)
    partition_page_rows: int = 5000
    #: times a partition that failed with a retryable error (after the call's own retries) is taken up again
    partition_retries: int = 3
    #: a source connection with ``downloadFiles``: the largest file downloaded, and the bytes one run attempt
    #: downloads at most (``file_contents.py``); larger files (and those beyond the total) are skipped and named
    max_file_bytes: int = 128 * 2**20
    max_run_file_bytes: int = 10 * 2**30
    #: bytes asked for per ``Range`` request of a download (Dataverse recommends 4 MB; tests ask for less)
    file_chunk_bytes: int = 4 * 2**20
    #: keep Dataverse's ARR affinity cookie (sticking every request to one web server and its budget)
    keep_affinity_cookie: bool = False
    transport: httpx.BaseTransport | None = field(default=None, compare=False)
    resolver: Resolver | None = field(default=None, compare=False)
    #: how retries wait; None waits on the operation's deadline (cancellation wakes it up). Tests pass a fake.
    sleep: Callable[[float], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.max_concurrency <= DATAVERSE_MAX_CONCURRENCY:
            raise ValueError(f"max_concurrency must be between 1 and {DATAVERSE_MAX_CONCURRENCY}")
        if not 1 <= self.partition_concurrency < DATAVERSE_MAX_CONCURRENCY:  # the key scan is one more
            raise ValueError(f"partition_concurrency must be between 1 and {DATAVERSE_MAX_CONCURRENCY - 1}")
        for name in ("partition_pages_in_flight", "partition_page_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.partition_min_rows < 0 or self.partition_retries < 0 or self.partition_below_rows_per_second < 0:
            raise ValueError("partition_min_rows, partition_below_rows_per_second and partition_retries must be >= 0")
        if self.read_ahead_pages < 0:
            raise ValueError("read_ahead_pages must be >= 0")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        for name in (
            "max_page_bytes",
            "max_metadata_bytes",
            "max_auth_bytes",
            "max_error_bytes",
            "cached_connections",
            "max_file_bytes",
            "max_run_file_bytes",
        ):
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

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=self.max_retries,
            backoff_base=self.backoff_base,
            backoff_cap=self.backoff_cap,
            max_retry_after=self.max_retry_after,
            max_wait_seconds=self.max_retry_wait_seconds,
        )


class DynamicsEnvironment(BaseSettings):
    """What an operator sets for the Dynamics source, read from ``FLOWSERVICE_DYNAMICS_<FIELD>`` (README lists
    them); the metadata cache and the watermark overlap keep their older names, without ``DYNAMICS_``.

    Limits on what a tenant-chosen serviceUri can cost us (docs/security.md): decoded bytes per answer, total
    seconds per call (a slow drip included), how long retries may wait, connections kept in memory.
    """

    model_config = SettingsConfigDict(env_prefix="FLOWSERVICE_DYNAMICS_", extra="ignore")

    authority_hosts: str = Field(
        default="", description="Comma-separated extra Entra ID authority hosts (e.g. a local emulator)."
    )
    ca_bundle: str | None = Field(default=None, description="Extra CA file trusted for Dynamics.")
    allow_private_addresses: bool = False
    public_client_id: str = DEFAULT_PUBLIC_CLIENT_ID
    metadata_ttl_seconds: int = Field(default=900, validation_alias="FLOWSERVICE_METADATA_TTL_SECONDS")
    explore_metadata_seconds: float = Field(
        default=60.0, ge=0, description="Explore takes cached metadata at most this old (0: never cached)."
    )
    max_page_bytes: int = Field(default=64 * 2**20, description="Decoded bytes of one page of rows.")
    max_metadata_bytes: int = Field(default=16 * 2**20, description="Decoded bytes of a metadata answer.")
    max_auth_bytes: int = Field(default=2**20, description="Decoded bytes of an Entra ID answer.")
    max_error_bytes: int = Field(default=64 * 2**10, description="Decoded bytes of an error or challenge.")
    call_deadline_seconds: float = Field(default=600.0, description="One call with its retries, in total.")
    token_deadline_seconds: float = Field(default=60.0, description="One token acquisition, in total.")
    max_retry_after_seconds: float = Field(default=120.0, description="A longer Retry-After fails the call.")
    max_retry_wait_seconds: float = Field(default=300.0, description="Waits between retries of one call.")
    cached_connections: int = Field(default=256, description="Connections whose token and metadata stay.")
    connection_idle_seconds: float = Field(default=3600.0, description="Cached state of an idle connection.")
    partition_min_rows: int = Field(
        default=20000,
        ge=0,
        description="Rows from which a first read of a change-tracked table may be partitioned (0: never).",
    )
    partition_below_rows_per_second: float = Field(
        default=5000.0,
        ge=0,
        description="... and is, when the org answers a probe of the table at fewer rows/s than this (a slow org, "
        "where partitions are several times faster; on a fast one the single chain is faster and lighter, "
        "docs/performance.md). 0: partition whatever the speed.",
    )
    partition_concurrency: int = Field(default=12, ge=1, le=51, description="Workers of a partitioned read.")
    partition_pages_in_flight: int = Field(default=12, ge=1, description="Pages in flight of a partitioned read.")
    partition_page_rows: int = Field(default=5000, ge=1, le=5000, description="Rows per page when partitioned.")
    partition_retries: int = Field(default=3, ge=0, description="Retries of a failed partition.")
    max_file_bytes: int = Field(
        default=128 * 2**20, ge=1, description="downloadFiles: the largest file downloaded (larger: skipped, named)."
    )
    max_run_file_bytes: int = Field(
        default=10 * 2**30, ge=1, description="downloadFiles: file bytes one run attempt downloads at most."
    )
    # Watermark reads (tables without change tracking) start this long before the highest delta value seen,
    # so a row committed late with an older ``modifiedon`` is still read; re-read rows are deduplicated by key.
    watermark_overlap_seconds: float = Field(
        default=300.0, ge=0, validation_alias="FLOWSERVICE_WATERMARK_OVERLAP_SECONDS"
    )

    resync_on_org_version: bool = Field(
        default=True,
        description="A changed org version (a reset, a restore, a platform update) reads every flow's table in "
        "full on its next run, as a changed org id always does.",
    )

    @property
    def extra_authority_hosts(self) -> tuple[str, ...]:
        return tuple(h.strip().lower() for h in self.authority_hosts.split(",") if h.strip())

    def source_settings(self) -> DynamicsSettings:
        return DynamicsSettings(
            authority_hosts_extra=self.extra_authority_hosts,
            ca_bundle=self.ca_bundle,
            allow_private_addresses=self.allow_private_addresses,
            public_client_id=self.public_client_id,
            metadata_ttl_seconds=self.metadata_ttl_seconds,
            explore_metadata_seconds=self.explore_metadata_seconds,
            max_page_bytes=self.max_page_bytes,
            max_metadata_bytes=self.max_metadata_bytes,
            max_auth_bytes=self.max_auth_bytes,
            max_error_bytes=self.max_error_bytes,
            call_deadline_seconds=self.call_deadline_seconds,
            token_deadline_seconds=self.token_deadline_seconds,
            max_retry_after=self.max_retry_after_seconds,
            max_retry_wait_seconds=self.max_retry_wait_seconds,
            cached_connections=self.cached_connections,
            connection_idle_seconds=self.connection_idle_seconds,
            watermark_lookback_seconds=self.watermark_overlap_seconds,
            partition_min_rows=self.partition_min_rows,
            partition_below_rows_per_second=self.partition_below_rows_per_second,
            partition_concurrency=self.partition_concurrency,
            partition_pages_in_flight=self.partition_pages_in_flight,
            partition_page_rows=self.partition_page_rows,
            resync_on_org_version=self.resync_on_org_version,
            partition_retries=self.partition_retries,
            max_file_bytes=self.max_file_bytes,
            max_run_file_bytes=self.max_run_file_bytes,
        )
