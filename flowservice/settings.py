"""Settings from the environment (``FLOWSERVICE_*``) and command-line flags.

One object, read once by ``bootstrap``; nothing else reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWSERVICE_", extra="ignore")

    data_dir: Path = Field(default=Path(".flowservice"), description="SQLite database, keys and the lake.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir.")
    lake_root: str | None = Field(default=None, description="Where datasets live: a folder or s3://bucket/prefix.")
    lake_s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, R2...).")
    lake_s3_region: str | None = None
    lake_s3_allow_http: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    token_lifetime_seconds: int = 24 * 3600
    # POST /ims/token/v3: failed requests allowed per client id and per remote address within the window;
    # past either budget the endpoint answers 429 with Retry-After, before hashing anything
    token_failures_per_client: int = 5
    token_failures_per_address: int = 20
    token_failure_window_seconds: float = 60.0
    token_max_body_bytes: int = 64 * 1024
    token_hash_threads: int = Field(default=1, description="Secret checks (scrypt) hashed at once, off the loop.")
    max_body_bytes: int = 1024 * 1024

    # Dynamics source
    dynamics_authority_hosts: str = Field(
        default="", description="Comma-separated extra Entra ID authority hosts (e.g. a local emulator)."
    )
    dynamics_ca_bundle: str | None = Field(default=None, description="Extra CA file trusted for Dynamics.")
    dynamics_allow_private_addresses: bool = False
    dynamics_public_client_id: str = "51f81489-12ee-4a9e-aaae-a2591f45987d"
    metadata_ttl_seconds: int = 900
    # Limits on what a tenant-chosen serviceUri can cost us (docs/security.md): decoded bytes per answer,
    # total seconds per call (a slow drip included), how long retries may wait, connections kept in memory.
    dynamics_max_page_bytes: int = Field(default=64 * 2**20, description="Decoded bytes of one page of rows.")
    dynamics_max_metadata_bytes: int = Field(default=16 * 2**20, description="Decoded bytes of a metadata answer.")
    dynamics_max_auth_bytes: int = Field(default=2**20, description="Decoded bytes of an Entra ID answer.")
    dynamics_max_error_bytes: int = Field(default=64 * 2**10, description="Decoded bytes of an error or challenge.")
    dynamics_call_deadline_seconds: float = Field(default=600.0, description="One call with its retries, in total.")
    dynamics_token_deadline_seconds: float = Field(default=60.0, description="One token acquisition, in total.")
    dynamics_max_retry_after_seconds: float = Field(default=120.0, description="A longer Retry-After fails the call.")
    dynamics_max_retry_wait_seconds: float = Field(default=300.0, description="Waits between retries of one call.")
    dynamics_cached_connections: int = Field(default=256, description="Connections whose token and metadata stay.")
    dynamics_connection_idle_seconds: float = Field(default=3600.0, description="Cached state of an idle connection.")
    # Calls to a source on behalf of a request (test, explore, validating source connections and flows)
    source_call_deadline_seconds: float = Field(default=60.0, description="Total time of one such call.")
    source_call_threads: int = Field(default=16, description="Threads of their own pool (not the shared one).")
    source_calls_per_tenant: int = Field(default=4, description="Concurrent calls per organization; more get 429.")
    # Watermark reads (tables without change tracking) start this long before the highest delta value seen,
    # so a row committed late with an older ``modifiedon`` is still read; re-read rows are deduplicated by key.
    watermark_overlap_seconds: float = Field(default=300.0, ge=0)

    # engine
    # A commit holds this many rows in memory while delta-rs writes them (its buffers grow with the batch):
    # 6,400 keeps a million-row run of a 120-column table under 400 MB (docs/performance.md); more rows per
    # commit mean fewer, larger files and fewer commits, at about 3.5 MB of memory per 1,000 rows. A crash
    # loses at most this much work, never data.
    commit_every_rows: int = 6_400
    # Rows per Dataverse page (its maximum is 5,000): a page's bytes, the page read ahead and the one being
    # converted are in memory at once, about 4.4 KB per row of a 120-column table with lookup annotations.
    page_size: int = 1600
    workers: int = Field(default=2, description="Runs executed at once by serve's embedded workers.")
    scheduler_interval_seconds: float = 5.0
    embedded_workers: bool = True
    # process: each embedded worker (and the scheduler) in a child process of `serve`, so that a run never holds
    # the interpreter lock the API's event loop needs; thread: inside the server process (for in-process tests).
    worker_mode: Literal["process", "thread"] = "process"
    # Added to the niceness of embedded worker processes: when the API and a run want the same core, the kernel
    # gives it to the API (a run only slows down while requests wait). 0 keeps the server's priority.
    worker_nice: int = Field(default=10, ge=0, le=19)
    run_stale_seconds: float = Field(default=60.0, description="A run whose worker is silent this long is resumed.")
    max_catch_up_windows: int = 4
    # finished runs (with their row errors and queue rows) last changed longer ago are pruned; 0 keeps them
    run_retention_days: float = 90.0
    # at most this many runs are kept per flow, newest first; 0: no limit. The newest run of a flow, and any
    # queued or running run, is never pruned
    run_retention_per_flow: int = 0
    run_retention_interval_seconds: float = Field(default=3600.0, description="How often the scheduler prunes.")

    log_format: str = "text"
    log_level: str = "INFO"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'flowservice.db').resolve()}"

    @property
    def lake_path(self) -> str:
        return self.lake_root or str((self.data_dir / "lake").resolve())

    @property
    def extra_authority_hosts(self) -> tuple[str, ...]:
        return tuple(h.strip().lower() for h in self.dynamics_authority_hosts.split(",") if h.strip())
