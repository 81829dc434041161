"""Ports: the small interfaces the services need from the outside world, one module per role.

Adapters (``sources/``, ``lake/``, ``store/``) implement them; ``bootstrap`` wires them; tests pass working
fakes. They import the domain and pyarrow only.
"""

from flowservice.ports.identities import Identities
from flowservice.ports.lake import CommitResult, Lake, LastCommit, WriteMode
from flowservice.ports.mapping_versions import MappingVersions
from flowservice.ports.metrics import NoMetrics, RunMetrics
from flowservice.ports.resources import Resources, Stored, WriteWouldWait, writes_must_not_wait
from flowservice.ports.runs import (
    Claim,
    FlowBusy,
    RunDocuments,
    RunErrors,
    RunQueue,
    Schedules,
    TargetedClaims,
    worker_process,
)
from flowservice.ports.source import (
    EXPLORING,
    FRESH_METADATA,
    SOURCE_OPTIONS,
    Attachment,
    Column,
    CursorInfo,
    Page,
    SourceClient,
    SourceFactory,
    TableInfo,
    TableSchema,
)

__all__ = [
    "EXPLORING",
    "FRESH_METADATA",
    "SOURCE_OPTIONS",
    "Attachment",
    "Claim",
    "Column",
    "CommitResult",
    "CursorInfo",
    "FlowBusy",
    "Identities",
    "Lake",
    "LastCommit",
    "MappingVersions",
    "NoMetrics",
    "Page",
    "Resources",
    "RunDocuments",
    "RunErrors",
    "RunMetrics",
    "RunQueue",
    "Schedules",
    "SourceClient",
    "SourceFactory",
    "Stored",
    "TableInfo",
    "TableSchema",
    "TargetedClaims",
    "WriteMode",
    "WriteWouldWait",
    "worker_process",
    "writes_must_not_wait",
]
