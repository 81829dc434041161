"""The Catalog subset: datasets (each a Delta table under the lake root, per org and sandbox) and batches
(one per run and dataset, with counts). Catalog answers are objects keyed by id, as Adobe's are."""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterable
from typing import Any

from flowservice.domain.errors import Conflict, InvalidRequest, NotFound
from flowservice.domain.tenancy import Principal, Tenant
from flowservice.ports import Lake, Resources, Stored
from flowservice.services.resources import audit_fields, require_object

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SAFE = re.compile(r"[^A-Za-z0-9_.@-]")


def dataset_id() -> str:
    return secrets.token_hex(12)


def batch_id() -> str:
    """A 26-character, time-ordered id in Crockford base32 (the shape of Catalog batch ids)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def table_path(tenant: Tenant, id: str) -> str:
    return f"{_SAFE.sub('_', tenant.org)}/{_SAFE.sub('_', tenant.sandbox)}/datasets/{id}"


class CatalogService:
    def __init__(self, resources: Resources, lake: Lake) -> None:
        self.resources = resources
        self.lake = lake

    # ------------------------------------------------------------------ datasets
    def create_dataset(self, tenant: Tenant, principal: Principal, body: Any) -> str:
        body = require_object(body)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest("The field 'name' is required and must be a non-empty string.")
        if any(d.doc["name"].lower() == name.strip().lower() for d in self.resources.list("dataSets", tenant)):
            raise InvalidRequest(f"A dataset named {name!r} already exists in this sandbox.")
        schema_ref = body.get("schemaRef")
        if schema_ref is not None and (not isinstance(schema_ref, dict) or not schema_ref.get("id")):
            raise InvalidRequest("The field 'schemaRef' must be an object with an 'id'.")
        id = dataset_id()
        doc = {
            "name": name.strip(),
            "description": body.get("description") or "",
            "tags": body.get("tags") or {},
            "files": f"@/dataSetFiles?dataSetId={id}",
            "created": int(time.time() * 1000),
            "lake": {"format": "delta", "path": table_path(tenant, id)},
            **({"schemaRef": schema_ref} if schema_ref else {}),
            **audit_fields(principal, tenant),
        }
        doc["updated"] = doc["created"]
        self.resources.add("dataSets", tenant, id, doc, {})
        return id

    def dataset(self, tenant: Tenant, id: str) -> Stored:
        stored = self.resources.get("dataSets", tenant, id)
        if stored is None:
            raise NotFound(f"The dataset {id} is not found.", resource_id=id, resource_type="dataSets")
        return stored

    def dataset_by_name(self, tenant: Tenant, name: str) -> Stored | None:
        return next((d for d in self.resources.list("dataSets", tenant) if d.doc["name"] == name), None)

    def dataset_view(self, tenant: Tenant, id: str) -> dict[str, Any]:
        stored = self.dataset(tenant, id)
        return {id: {**stored.doc, "lake": {**stored.doc["lake"], **self.lake.stats(stored.doc["lake"]["path"])}}}

    def list_datasets(self, tenant: Tenant, params: Iterable[tuple[str, str]]) -> dict[str, Any]:
        options = dict(params)
        docs = sorted((d.doc for d in self.resources.list("dataSets", tenant)), key=lambda d: d["created"])
        if "name" in options:
            docs = [d for d in docs if d["name"] == options["name"]]
        start, limit = _paging(options, default_limit=50)
        return {d["id"]: d for d in docs[start : start + limit]}

    def delete_dataset(self, tenant: Tenant, id: str) -> list[str]:
        stored = self.dataset(tenant, id)
        for target in self.resources.list("targetConnections", tenant):
            if target.doc.get("params", {}).get("dataSetId") == id:
                flows = [
                    f.id
                    for f in self.resources.list("flows", tenant)
                    if target.id in (f.doc.get("targetConnectionIds") or [])
                ]
                writer = (
                    f"flow {', '.join(flows)} (target connection {target.id})"
                    if flows
                    else (f"target connection {target.id}")
                )
                raise Conflict(
                    f"The dataset {id} cannot be deleted because {writer} writes to it. "
                    "Delete the flow and the target connection first.",
                    code="1447",
                )
        self.resources.delete("dataSets", tenant, id)
        self.lake.drop(stored.doc["lake"]["path"])
        for batch in self.resources.list("batches", tenant):
            if batch.doc.get("dataSet") == id:
                self.resources.delete("batches", tenant, batch.id)
        return [f"@/dataSets/{id}"]

    # ------------------------------------------------------------------ batches
    def open_batch(self, tenant: Tenant, dataset: str, run_id: str, flow_id: str) -> str:
        id = batch_id()
        stamp = int(time.time() * 1000)
        doc = {
            "status": "loading",
            "dataSet": dataset,
            "relatedObjects": [
                {"type": "dataSet", "id": dataset},
                {"type": "flowRun", "id": run_id},
                {"type": "flow", "id": flow_id},
            ],
            "recordCount": 0,
            "failedRecordCount": 0,
            "deletedRecordCount": 0,
            "size": 0,
            "created": stamp,
            "updated": stamp,
            "started": stamp,
            "errors": [],
            "imsOrg": tenant.org,
            "sandboxName": tenant.sandbox,
        }
        self.resources.add("batches", tenant, id, doc, {})
        return id

    def update_batch(self, tenant: Tenant, id: str, **changes: Any) -> None:
        stored = self.resources.get("batches", tenant, id)
        if stored is None:
            return
        doc = {**stored.doc, **changes, "updated": int(time.time() * 1000)}
        self.resources.update("batches", tenant, id, doc, None, if_etag=None)

    def batch(self, tenant: Tenant, id: str) -> dict[str, Any]:
        stored = self.resources.get("batches", tenant, id)
        if stored is None:
            raise NotFound(f"The batch {id} is not found.", resource_id=id, resource_type="batches")
        return {id: stored.doc}

    def list_batches(self, tenant: Tenant, params: Iterable[tuple[str, str]]) -> dict[str, Any]:
        options = dict(params)
        docs = [b.doc for b in self.resources.list("batches", tenant)]
        if "dataSet" in options:
            docs = [d for d in docs if d.get("dataSet") == options["dataSet"]]
        if "status" in options:
            docs = [d for d in docs if d.get("status") == options["status"].lower()]
        ascending = options.get("orderBy", "desc:created").lower().startswith("asc")
        docs.sort(key=lambda d: (d["created"], d["id"]), reverse=not ascending)
        start, limit = _paging(options, default_limit=100)
        return {d["id"]: d for d in docs[start : start + limit]}


def _paging(options: dict[str, str], *, default_limit: int) -> tuple[int, int]:
    try:
        start = int(options.get("start", 0))
        limit = int(options.get("limit", default_limit))
    except ValueError:
        raise InvalidRequest("The parameters 'start' and 'limit' must be integers.") from None
    if start < 0 or not 1 <= limit <= 1000:
        raise InvalidRequest("'start' must be ≥ 0 and 'limit' between 1 and 1000.")
    return start, limit
