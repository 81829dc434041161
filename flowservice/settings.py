"""Settings from the environment (``FLOWSERVICE_*``) and command-line flags.

One object, read once by ``bootstrap``; nothing else reads the environment but the settings of each source
(``FLOWSERVICE_DYNAMICS_*``, in its package), which ``bootstrap`` reads when it builds the source registry.
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
    # the lake's S3 credentials (unset: delta-rs reads the standard AWS_* variables); the secret is left out of
    # the settings' repr and never logged
    lake_s3_access_key_id: str | None = None
    lake_s3_secret_access_key: str | None = Field(default=None, repr=False)
    lake_s3_check_conditional_put: bool = Field(
        default=True, description="At serve/worker start-up, require an S3 lake to refuse a second If-None-Match put."
    )
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
    # the web UI (flowservice/web) at /ui: a client of this API, in-process unless given the URL of another one
    ui: bool = Field(default=True, description="Serve the web UI at /ui (and redirect / to it).")
    ui_api_url: str | None = Field(default=None, description="The API the UI calls; default: this process.")

    # Calls to a source on behalf of a request (test, explore, validating source connections and flows)
    source_call_deadline_seconds: float = Field(default=60.0, description="Total time of one such call.")
    source_call_threads: int = Field(default=16, description="Threads of their own pool (not the shared one).")
    source_calls_per_tenant: int = Field(default=4, description="Concurrent calls per organization; more get 429.")

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
    # fair sharing (docs/operations.md): running runs at once per org and per base connection; 0: no limit
    max_runs_per_org: int = Field(default=0, ge=0)
    max_runs_per_connection: int = Field(default=0, ge=0)
    # POST /runs accepted per minute from one client and from one org, per API server process; 0: no limit
    runs_post_per_minute: int = Field(default=120, ge=0)
    runs_post_per_minute_per_org: int = Field(default=600, ge=0)

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
