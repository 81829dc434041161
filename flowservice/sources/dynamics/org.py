"""The org behind a connection, as found at the start of each run: its ``organizationid`` and ``version``.

A Dataverse org can be copied, reset or restored behind the same address; its rows, and the version stamps
inside delta tokens, then belong to another org. The run engine stores this identity beside every cursor and
reads the table in full when it changes (``services/runs/identity.py``), so a dataset never mixes the rows of
two orgs. ``organizations`` (one row, readable by every user) gives both fields; an org that serves no row
there (or none with a ``version`` property) falls back to ``WhoAmI``'s ``OrganizationId`` alone. A version
change (a platform update also makes one) costs a full read with delete detection, which is correct either
way; ``resync_on_org_version`` in the settings leaves the version out for those who would rather not pay it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowservice.domain.errors import SourceRefused

from .http import DataverseHttp

ORG_ID = "orgId"
ORG_VERSION = "orgVersion"


def org_identity(http: DataverseHttp, *, with_version: bool = True) -> dict[str, str]:
    """``{"orgId": …, "orgVersion": …}`` (the version only when asked and served)."""
    try:
        doc, _ = http.get_json(http.url("organizations", {"$select": "organizationid,version"}))
    except SourceRefused as exc:
        if "Could not find a property" not in exc.message:
            raise
        doc = {}  # an org (or an emulator) whose organization table has no version: its id alone
    rows = doc.get("value") if isinstance(doc, Mapping) else None
    row: Mapping[str, Any] = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], Mapping) else {}
    org_id = row.get("organizationid")
    if not org_id:
        who, _ = http.get_json(http.url("WhoAmI"))
        org_id = who.get("OrganizationId") if isinstance(who, Mapping) else None
    if not isinstance(org_id, str) or not org_id.strip():
        raise SourceRefused("Dataverse named no organization id (neither organizations nor WhoAmI)")
    found = {ORG_ID: org_id.strip().lower()}
    version = row.get("version")
    if with_version and isinstance(version, str) and version.strip():
        found[ORG_VERSION] = version.strip()
    return found
