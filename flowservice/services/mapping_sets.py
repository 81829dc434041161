"""Data Prep mapping sets (``/data/foundation/conversion/mappingSets``), both documented forms."""

from __future__ import annotations

import secrets
import time
from typing import Any

from flowservice.domain.errors import Conflict, InvalidRequest, NotFound
from flowservice.domain.mapping import MappingSet, parse_mapping_set
from flowservice.domain.tenancy import Principal, Tenant
from flowservice.ports import Resources
from flowservice.services.resources import require_object


class MappingSetService:
    kind = "mappingSets"

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

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

    def get(self, tenant: Tenant, id: str) -> dict[str, Any]:
        if not isinstance(id, str) or not id:
            raise InvalidRequest("A mapping id (mappingId) must be a non-empty string.", code="1419")
        stored = self.resources.get(self.kind, tenant, id)
        if stored is None:
            raise NotFound(
                f"The mapping set {id} is not found.", resource_id=id, resource_type="mappingSets", code="1419"
            )
        return stored.doc

    def parsed(self, tenant: Tenant, id: str) -> MappingSet:
        return parse_mapping_set(self.get(tenant, id))

    def list(self, tenant: Tenant, start: int = 0, limit: int = 100) -> dict[str, Any]:
        docs = sorted((s.doc for s in self.resources.list(self.kind, tenant)), key=lambda d: -d["createdDate"])
        return {
            "data": docs[start : start + limit],
            "_page": {"count": len(docs[start : start + limit]), "totalCount": len(docs)},
        }

    def delete(self, tenant: Tenant, id: str) -> None:
        self.get(tenant, id)
        for flow in self.resources.list("flows", tenant):
            for t in flow.doc.get("transformations", []):
                if t.get("name", "").lower() == "mapping" and t.get("params", {}).get("mappingId") == id:
                    raise Conflict(
                        f"Found active flows containing id {id}: {flow.id}. Delete the flow first.", code="1447"
                    )
        self.resources.delete(self.kind, tenant, id)
