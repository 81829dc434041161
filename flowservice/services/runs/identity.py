"""A cursor knows its source: each commit stores, beside its cursor, the identity of what it read, so that a
cursor is never resumed against another org, table, column set or delta column than the one it came from.

Two parts: what the flow is configured to read (connection, serviceUri, table, columns, delta column), and what
the source reports the account to be when the run starts (``SourceClient.account_identity``: an org's id and
version), which catches an org copied, reset or restored behind an unchanged address."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flowservice.services.flows import FlowPlan


def source_identity(
    plan: FlowPlan, base_connection: dict[str, Any], found: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """What ``plan`` reads, as configured, from the document of its base connection, plus what the source
    reported the account to be (``found``; its keys never replace the configured ones)."""
    params = (base_connection.get("auth") or {}).get("params") or {}
    configured = {
        "baseConnectionId": plan.base_connection_id,
        "org": normalised_uri(params.get("serviceUri")),
        "table": plan.table,
        "deltaColumn": plan.delta_column,
        "columns": sorted(set(plan.columns)) if plan.columns else None,
        "sourceOptions": dict(sorted(plan.source_options.items())),
    }
    return {**{k: str(v) for k, v in (found or {}).items()}, **configured}


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The fields of two identities that differ, among those both have: a commit written before a field
    existed (or by a source that stopped reporting one) is not taken as another source for lacking it. The
    configured fields are always in both."""
    return sorted(k for k in set(old) & set(new) if old[k] != new[k])


def normalised_uri(uri: Any) -> str | None:
    """An org address as one spelling: lower-case scheme and host, no default port, no trailing slash."""
    if not isinstance(uri, str) or not uri.strip():
        return None
    parts = urlsplit(uri.strip())
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port and parts.port != 443 else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/')}"


def identity_note(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    """The run's note when its source changed: which fields (not their values, which may be private)."""
    changed = changed_fields(old, new)
    return {
        "code": "CONNECTOR-3002-200",
        "message": (
            f"The source of this flow changed since its last run ({', '.join(changed)}): its cursor does not apply, "
            "so the table is read in full and rows the source does not have are deleted."
        ),
    }
