"""A cursor knows its source: each commit stores, beside its cursor, the identity of what it read, so that a
cursor is never resumed against another org, table, column set or delta column than the one it came from."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flowservice.services.flows import FlowPlan


def source_identity(plan: FlowPlan, base_connection: dict[str, Any]) -> dict[str, Any]:
    """What ``plan`` reads, as configured (not as found), from the document of its base connection."""
    params = (base_connection.get("auth") or {}).get("params") or {}
    return {
        "baseConnectionId": plan.base_connection_id,
        "org": normalised_uri(params.get("serviceUri")),
        "table": plan.table,
        "deltaColumn": plan.delta_column,
        "columns": sorted(set(plan.columns)) if plan.columns else None,
        # rows landed with other options have other columns: a change of them reads the table in full (absent
        # when there are none, so the identity of a flow without options is what it always was)
        **({"sourceOptions": dict(sorted(plan.source_options.items()))} if plan.source_options else {}),
    }


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
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return {
        "code": "CONNECTOR-3002-200",
        "message": (
            f"The source of this flow changed since its last run ({', '.join(changed)}): its cursor does not apply, "
            "so the table is read in full and rows the source does not have are deleted."
        ),
    }
