"""The Catalog subset: datasets (each a Delta table under the lake root, per org and sandbox) and batches
(one per run and dataset, with counts). Catalog answers are objects keyed by id, as Adobe's are; a dataset's
name, description and tags can be updated (PATCH by fields or JSON Patch, PUT), the rest is the server's.
Listings follow Catalog's query parameters (``services/catalog_query.py``)."""

from __future__ import annotations

import copy
import os
import re
import secrets
import time
from collections.abc import Iterable
from typing import Any, Literal

import jsonpatch

from flowservice.domain.errors import Conflict, InvalidRequest, NotFound, PreconditionFailed
from flowservice.domain.tenancy import Principal, Tenant
from flowservice.ports import Lake, Resources, Stored
from flowservice.services import catalog_query
from flowservice.services.resources import SYSTEM_FIELDS, audit_fields, parse_patch, require_object

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SAFE = re.compile(r"[^A-Za-z0-9_.@-]")


#: what a caller may change on a dataset (Catalog's "Update a dataset"); the rest is fixed or the server's
DATASET_CALLER_FIELDS = ("name", "description", "tags")
MAX_DATASET_NAME = 256
MAX_DATASET_DESCRIPTION = 4096
_DATASET_REASONS = {
    "schemaRef": "is fixed when the dataset is created (its Delta table was made for that schema)",
    "lake": "is the dataset's Delta table, fixed when the dataset is created",
    "files": "is derived from the dataset id",
    "id": "is the dataset's identity",
    "created": "is set when the dataset is created",
    "updated": "is set by the server on every update",
}
UpdateMode = Literal["fields", "json-patch", "replace"]


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
        self._check_name_free(tenant, name.strip(), None)
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

    def dataset_view(self, tenant: Tenant, id: str, params: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
        """``GET /dataSets/{id}`` (``properties`` may narrow it), with the Delta table's statistics."""
        properties = catalog_query.parse_properties(params, "GET /dataSets/{id}")
        stored = self.dataset(tenant, id)
        doc = {**stored.doc, "lake": {**stored.doc["lake"], **self.lake.stats(stored.doc["lake"]["path"])}}
        return {id: catalog_query.project(doc, properties)}

    def list_datasets(self, tenant: Tenant, params: Iterable[tuple[str, str]]) -> dict[str, Any]:
        query = catalog_query.parse(params, catalog_query.DATASET_FILTERS, "GET /dataSets")
        docs = sorted((d.doc for d in self.resources.list("dataSets", tenant)), key=lambda d: (d["created"], d["id"]))
        return catalog_query.answer(query, docs)

    def update_dataset(
        self, tenant: Tenant, principal: Principal, id: str, body: Any, mode: UpdateMode, if_match: str | None
    ) -> list[str]:
        """Update a dataset's ``DATASET_CALLER_FIELDS``: ``fields`` merges the top-level fields sent (PATCH
        with ``application/json``), ``json-patch`` applies RFC 6902 operations (PATCH with
        ``application/json-patch+json``), ``replace`` sets all three (PUT: the ones left out are emptied).
        Any other field may be sent only with its current value (a GET's document sent back); a change is
        refused naming it. ``If-Match`` (optional in Catalog) is the etag or the ``updated`` stamp; without it
        a concurrent update is read again and the change re-applied, so neither is lost."""
        for _ in range(5):
            stored = self.dataset(tenant, id)
            if if_match is not None and if_match.strip().strip('"') == str(stored.doc.get("updated")):
                if_match = stored.etag  # Catalog's If-Match may be the document's updated stamp
            doc = _updated_dataset(stored.doc, body, mode)
            self._check_name_free(tenant, doc["name"], id)
            doc.update(
                updated=int(time.time() * 1000), updatedBy=principal.client_id, updatedClient=principal.client_id
            )
            try:
                self.resources.update("dataSets", tenant, id, doc, None, if_etag=if_match or stored.etag)
            except PreconditionFailed:
                if if_match:
                    raise
                continue  # changed since we read it: apply the caller's change to the new document
            return [f"@/dataSets/{id}"]
        raise PreconditionFailed(f"The dataset {id} kept changing while it was updated; try again.")

    def _check_name_free(self, tenant: Tenant, name: str, own_id: str | None) -> None:
        for other in self.resources.list("dataSets", tenant):
            if other.id != own_id and other.doc["name"].lower() == name.lower():
                raise InvalidRequest(f"A dataset named {name!r} already exists in this sandbox.")

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
        """Newest first unless ``orderBy`` says otherwise."""
        query = catalog_query.parse(params, catalog_query.BATCH_FILTERS, "GET /batches")
        docs = sorted((b.doc for b in self.resources.list("batches", tenant)), key=lambda d: (-d["created"], d["id"]))
        return catalog_query.answer(query, docs)


def _updated_dataset(current: dict[str, Any], body: Any, mode: UpdateMode) -> dict[str, Any]:
    """The dataset document after the caller's change, every field checked."""
    doc = copy.deepcopy(current)
    if mode == "json-patch":
        try:
            patched: dict[str, Any] = jsonpatch.apply_patch(doc, parse_patch(body))
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise InvalidRequest(f"An error has occurred while validating patch instructions: {exc}.") from None
        if not isinstance(patched, dict):
            raise InvalidRequest("The patch must leave the dataset a JSON object.")
        for field in sorted(set(patched) | set(current)):
            if field not in DATASET_CALLER_FIELDS and patched.get(field, _MISSING) != current.get(field, _MISSING):
                raise InvalidRequest(_dataset_refusal(field))
        for field in DATASET_CALLER_FIELDS:
            _check_dataset_field(field, patched.get(field, _MISSING))
        return patched
    if isinstance(body, list) and mode == "fields":
        raise InvalidRequest(
            "A PATCH with Content-Type application/json takes an object of the fields to change; send JSON Patch "
            "operations with Content-Type application/json-patch+json."
        )
    body = require_object(body)
    if mode == "replace":
        if "name" not in body:
            raise InvalidRequest("A PUT replaces the dataset: the field 'name' is required.")
        doc.update(description="", tags={})
    for field, value in body.items():
        if field in DATASET_CALLER_FIELDS:
            _check_dataset_field(field, value)
            doc[field] = value.strip() if field == "name" else value
        elif not _unchanged(field, value, current):
            raise InvalidRequest(_dataset_refusal(field))
    return doc


_MISSING = object()


def _unchanged(field: str, value: Any, current: dict[str, Any]) -> bool:
    """Whether a field the caller may not change is sent back as it is (the table's statistics a GET adds
    to ``lake`` are not part of it)."""
    if field not in current:
        return False
    if field == "lake" and isinstance(value, dict):
        return all(value.get(key) == stored for key, stored in current["lake"].items())
    return bool(value == current[field])


def _check_dataset_field(field: str, value: Any) -> None:
    if field == "name":
        if not isinstance(value, str) or not value.strip():
            raise InvalidRequest("The field 'name' of a dataset must be a non-empty string.")
        if len(value) > MAX_DATASET_NAME:
            raise InvalidRequest(f"The field 'name' of a dataset must be at most {MAX_DATASET_NAME} characters.")
    elif field == "description":
        if value is not _MISSING and not isinstance(value, str):
            raise InvalidRequest("The field 'description' of a dataset must be a string.")
        if isinstance(value, str) and len(value) > MAX_DATASET_DESCRIPTION:
            raise InvalidRequest(
                f"The field 'description' of a dataset must be at most {MAX_DATASET_DESCRIPTION} characters."
            )
    elif value is not _MISSING:
        if not isinstance(value, dict) or not all(
            isinstance(key, str) and key and isinstance(values, list) and all(isinstance(v, str) for v in values)
            for key, values in value.items()
        ):
            raise InvalidRequest(
                "The field 'tags' of a dataset must be an object of tag names to arrays of strings, "
                'e.g. {"sampleTag": ["123456"]}.'
            )


def _dataset_refusal(field: str) -> str:
    why = _DATASET_REASONS.get(field)
    if why is None and field in SYSTEM_FIELDS:
        why = "is managed by the server"
    allowed = ", ".join(DATASET_CALLER_FIELDS)
    return (
        f"The field '{field[:64]}' {why or 'is not a field of a dataset this server stores'} and cannot be "
        f"changed; an update of a dataset may change only {allowed}."
    )
