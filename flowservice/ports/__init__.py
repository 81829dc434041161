"""Ports: the small interfaces the services need from the outside world, one module per role.

Adapters (``sources/``, ``lake/``, ``store/``) implement them; ``bootstrap`` wires them; tests pass working
fakes. They import the domain and pyarrow only.
"""

from flowservice.ports.identities import Identities
from flowservice.ports.lake import CommitResult, Lake, LastCommit, WriteMode
from flowservice.ports.mapping_versions import MappingVersions
from flowservice.ports.resources import Resources, Stored, WriteWouldWait, writes_must_not_wait
from flowservice.ports.runs import Claim, RunDocuments, RunErrors, RunQueue, Schedules
from flowservice.ports.source import (
    FRESH_METADATA,
    SOURCE_OPTIONS,
    Column,
    CursorInfo,
    Page,
    SourceClient,
    SourceFactory,
    TableInfo,
    TableSchema,
)

__all__ = [
    "FRESH_METADATA",
    "SOURCE_OPTIONS",
    "Claim",
    "Column",
    "CommitResult",
    "CursorInfo",
    "Identities",
    "Lake",
    "LastCommit",
    "MappingVersions",
    "Page",
    "Resources",
    "RunDocuments",
    "RunErrors",
    "RunQueue",
    "Schedules",
    "SourceClient",
    "SourceFactory",
    "Stored",
    "TableInfo",
    "TableSchema",
    "WriteMode",
    "WriteWouldWait",
    "writes_must_not_wait",
]
