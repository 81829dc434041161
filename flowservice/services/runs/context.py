"""A run in flight: what the engine carries from page to page and the progress reports read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowservice.domain.tenancy import Tenant
from flowservice.ports import Claim
from flowservice.services.flows import FlowPlan


@dataclass
class Counters:
    """A run's counts, committed beside each commit's cursor (a resumed run continues from them)."""

    read: int = 0
    written: int = 0
    deleted: int = 0
    failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    commits: int = 0
    full_resync: bool = False
    throttled: int = 0  # the source's 429s absorbed by retrying
    throttled_seconds: float = 0.0  # and the time waited for them
    files_written: int = 0  # file contents stored beside the dataset (``attachments.py``)
    files_kept: int = 0  # files found stored already, not downloaded again
    files_skipped: int = 0  # files not stored (over a limit, gone), named in the run's activities
    file_bytes: int = 0  # bytes of the files written


@dataclass
class RunContext:
    tenant: Tenant
    run_id: str
    plan: FlowPlan
    batch_id: str
    started: int
    claim: Claim
    still_ours: Callable[[], bool] = lambda: True
    counters: Counters = field(default_factory=Counters)
    committed: Counters = field(default_factory=Counters)  # the counters as of our last landed commit
    notes: list[dict[str, str]] = field(default_factory=list)
    last_progress: float = 0.0
    cursor_extra: dict[str, Any] = field(default_factory=dict)  # committed beside the source cursor
    schema_changes: list[dict[str, str]] = field(default_factory=list)  # ``drift.schema_changes``, for activities
    full_refresh: bool = False  # the run was asked to read its table in full (``params.fullRefresh``)
