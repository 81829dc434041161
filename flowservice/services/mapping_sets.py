"""Data Prep mapping sets (``/data/foundation/conversion/mappingSets``), both documented forms, with versions.

``PUT /mappingSets/{id}`` makes a new version (0, 1, 2 …) whose body replaces the mappings, validated as a
create is; every older version stays readable (``GET …?version=N``) and unchanged, so that a flow pinned to
one (``transformations[].params.mappingVersion``) and a run that started with one keep applying exactly it.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from flowservice.domain.errors import Conflict, InvalidRequest, NotFound, PreconditionFailed
from flowservice.domain.mapping import (
    VERSIONS_KIND,
    MappingSet,
    parse_mapping_set,
    parse_version,
    version_key,
    version_of,
)
from flowservice.domain.tenancy import Principal, Tenant
from flowservice.ports import MappingVersions, Resources
from flowservice.services import mapping_preview
from flowservice.services.resources import require_object

_REPLACE_ATTEMPTS = 5


class MappingSetService:
    kind = "mappingSets"

    def __init__(self, resources: Resources, versions: MappingVersions) -> None:
        self.resources = resources
        self.versions = versions

    def create(self, tenant: Tenant, principal: Principal, body: Any) -> dict[str, Any]:
        body = require_object(body)
        parsed = parse_mapping_set(body)
        id = secrets.token_hex(16)
        stamp = int(time.time() * 1000)
        doc = {
            **{k: v for k, v in body.items() if k not in ("id", "version")},
            "version": 0,
            "createdDate": stamp,
            "modifiedDate": stamp,
            "createdBy": principal.client_id,
            "modifiedBy": principal.client_id,
            "mappings": parsed.to_dict()["mappings"],
            "imsOrgId": tenant.org,
            "sandboxName": tenant.sandbox,
        }
        self.resources.add(self.kind, tenant, id, doc, {})
        return {
            "id": id,
            "version": 0,
            "createdDate": stamp,
            "modifiedDate": stamp,
            "createdBy": principal.client_id,
            "modifiedBy": principal.client_id,
        }

    def replace(self, tenant: Tenant, principal: Principal, id: str, body: Any) -> dict[str, Any]:
        """``PUT``: a new version whose body replaces the set's, validated as a create is (a bad body writes
        nothing). Two concurrent PUTs both land, one version after the other."""
        body = require_object(body)
        parsed = parse_mapping_set(body)
        for _ in range(_REPLACE_ATTEMPTS):
            latest = self._latest(tenant, id)
            version = version_of(latest)
            doc = {
                **{k: v for k, v in body.items() if k not in ("id", "version")},
                "version": version + 1,
                "createdDate": latest.get("createdDate"),
                "modifiedDate": int(time.time() * 1000),
                "createdBy": latest.get("createdBy"),
                "modifiedBy": principal.client_id,
                "mappings": parsed.to_dict()["mappings"],
                "imsOrgId": tenant.org,
                "sandboxName": tenant.sandbox,
            }
            try:
                return _view(id, self.versions.replace(tenant, id, doc, replaces=version))
            except PreconditionFailed:  # another version landed first: this one goes on top of it
                continue
        raise Conflict(f"The mapping set {id} kept getting new versions; send the PUT again.", code="1419")

    def get(self, tenant: Tenant, id: str, version: Any = None) -> dict[str, Any]:
        """The latest version, or version ``version`` (an integer, or its digits as sent in a query)."""
        latest = self._latest(tenant, id)
        if version is None:
            return _view(id, latest)
        wanted = parse_version(version, "The query parameter 'version'")
        newest = version_of(latest)
        if wanted == newest:
            return _view(id, latest)
        stored = self.resources.get(VERSIONS_KIND, tenant, version_key(id, wanted)) if wanted < newest else None
        if stored is None:
            raise NotFound(
                f"The mapping set {id} has no version {wanted}; its versions are 0 to {newest}.",
                resource_id=id,
                resource_type="mappingSets",
                code="1419",
            )
        return _view(id, stored.doc)

    def pinned(self, tenant: Tenant, id: str, version: Any, what: str) -> int:
        """The version a flow names (``what`` says where), which must exist (else a 400); the latest when
        ``version`` is None."""
        newest = version_of(self._latest(tenant, id))
        if version is None:
            return newest
        wanted = parse_version(version, what)
        if wanted > newest:
            raise InvalidRequest(
                f"{what} names version {wanted} of mapping set {id}, which does not exist; its versions are 0 to "
                f"{newest}.",
                code="1419",
            )
        return wanted

    def validate(self, tenant: Tenant, body: Any) -> dict[str, Any]:
        """``POST /mappingSets/validate``: the errors of each mapping; nothing is stored (``tenant``: the caller's)."""
        del tenant
        return mapping_preview.validate(body)

    def preview(self, tenant: Tenant, body: Any) -> dict[str, Any]:
        """``POST /mappingSets/preview``: sample rows mapped as a run maps them; nothing is stored."""
        del tenant
        return mapping_preview.preview(body)

    def parsed(self, tenant: Tenant, id: str, version: Any = None) -> MappingSet:
        return parse_mapping_set(self.get(tenant, id, version))

    def list(self, tenant: Tenant, start: int = 0, limit: int = 100) -> dict[str, Any]:
        docs = sorted((s.doc for s in self.resources.list(self.kind, tenant)), key=lambda d: -d["createdDate"])
        page = [_view(d["id"], d) for d in docs[start : start + limit]]
        return {"data": page, "_page": {"count": len(page), "totalCount": len(docs)}}

    def delete(self, tenant: Tenant, id: str) -> None:
        self._latest(tenant, id)
        for flow in self.resources.list("flows", tenant):
            for t in flow.doc.get("transformations", []):
                if t.get("name", "").lower() == "mapping" and t.get("params", {}).get("mappingId") == id:
                    raise Conflict(
                        f"Found active flows containing id {id}: {flow.id}. Delete the flow first.", code="1447"
                    )
        self.versions.delete(tenant, id)

    def _latest(self, tenant: Tenant, id: str) -> dict[str, Any]:
        if not isinstance(id, str) or not id:
            raise InvalidRequest("A mapping id (mappingId) must be a non-empty string.", code="1419")
        stored = self.resources.get(self.kind, tenant, id)
        if stored is None:
            raise NotFound(
                f"The mapping set {id} is not found.", resource_id=id, resource_type="mappingSets", code="1419"
            )
        return stored.doc


def _view(id: str, doc: dict[str, Any]) -> dict[str, Any]:
    """A version as clients read it: its number as an integer (sets created before versions existed are 0)."""
    return {**doc, "id": id, "version": version_of(doc)}
