"""What every Flow Service resource shares: tenant-scoped lookup, the list envelope, JSON Patch with
``If-Match``, and the audit fields. Each resource service (connections, flows, ...) builds on this."""

from __future__ import annotations

import builtins
import copy
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import jsonpatch

from flowservice.domain import listing
from flowservice.domain.errors import InvalidRequest, NotFound
from flowservice.domain.tenancy import Principal, Tenant
from flowservice.ports import Resources, Stored
from flowservice.services.drafts import is_draft

# fields the server owns; a patch may not touch them
SYSTEM_FIELDS = frozenset(
    {
        "id",
        "createdAt",
        "updatedAt",
        "createdBy",
        "updatedBy",
        "createdClient",
        "updatedClient",
        "sandboxId",
        "sandboxName",
        "imsOrgId",
        "etag",
        "version",
    }
)
_PATCH_OPS = {"add", "replace", "remove", "test"}


def new_id() -> str:
    return str(uuid.uuid4())


def audit_fields(principal: Principal, tenant: Tenant) -> dict[str, Any]:
    return {
        "createdBy": principal.client_id,
        "updatedBy": principal.client_id,
        "createdClient": principal.client_id,
        "updatedClient": principal.client_id,
        "sandboxId": tenant.sandbox,
        "sandboxName": tenant.sandbox,
        "imsOrgId": tenant.org,
    }


def require_object(body: Any, what: str = "request body") -> dict[str, Any]:
    if body is None or body == {} or body == []:
        raise InvalidRequest(
            "The request body cannot be null or empty. Please provide a request body and try again.", code="1405"
        )
    if not isinstance(body, dict):
        raise InvalidRequest(f"The {what} must be a JSON object.")
    return body


def not_found(kind: str, id: str) -> NotFound:
    return NotFound(
        f"The requested {kind} resource {id} is not found. Verify the resource ID before trying again.",
        code="1439" if kind == "flows" else "1101",
        resource_id=id,
        resource_type=kind,
    )


class ResourceService:
    """Generic operations over one kind of resource."""

    kind: str = ""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    def get(self, tenant: Tenant, id: str, *, with_secrets: bool = False) -> Stored:
        stored = self.resources.get(self.kind, tenant, id, with_secrets=with_secrets)
        if stored is None:
            raise not_found(self.kind, id)
        return stored

    def list(self, tenant: Tenant, params: Iterable[tuple[str, str]]) -> dict[str, Any]:
        query = listing.parse_list_query(params)
        return self.envelope(query, self.resources.page(self.kind, tenant, query, newest_first))

    def list_page(self, query: listing.ListQuery, docs: builtins.list[dict[str, Any]]) -> dict[str, Any]:
        """The list answer over documents already in hand (views that derive fields clients filter on)."""
        return self.envelope(query, listing.apply(query, docs, default_order=newest_first))

    def envelope(self, query: listing.ListQuery, page: listing.Page) -> dict[str, Any]:
        if query.count_only:
            return {"count": page.total}
        links: dict[str, Any] = {}
        if page.next_offset is not None:
            links["next"] = {"href": f"/{self.kind}?continuationToken={listing.encode_token(page.next_offset)}"}
        return {"items": page.items, "_links": links}

    def delete(self, tenant: Tenant, id: str) -> None:
        self.get(tenant, id)
        self.check_deletable(tenant, id)
        self.resources.delete(self.kind, tenant, id)

    def check_deletable(self, tenant: Tenant, id: str) -> None:
        """Refuse deleting something others use; overridden where it matters."""

    # ------------------------------------------------------------------ drafts (services/drafts.py)
    def create_draft(self, tenant: Tenant, principal: Principal, body: Any) -> Stored:
        """``POST /{kind}?mode=draft``: the kinds with a draft mode override this."""
        raise InvalidRequest(f"The {self.kind} resources have no draft mode; create them without mode=draft.")

    def completed(self, tenant: Tenant, stored: Stored) -> tuple[dict[str, Any], dict[str, str] | None]:
        """The document (and the secrets, None keeping the stored ones) that publishing draft ``stored`` makes:
        the validation of a plain create over the draft's fields."""
        raise InvalidRequest(f"The {self.kind} resources have no draft mode.")

    def action(self, tenant: Tenant, principal: Principal, id: str, op: str | None) -> Stored:
        """``POST /{kind}/{id}/action?op=publish`` (the one action of connections and source and target ones)."""
        self.get(tenant, id)
        if (op or "").strip().lower() != "publish":
            raise InvalidRequest(f"Unsupported operation '{(op or '')[:40]}' received; use op=publish.", code="1434")
        return self.publish(tenant, principal, id)

    def publish(self, tenant: Tenant, principal: Principal, id: str) -> Stored:
        """Validate draft ``id`` as a create would and make it a complete resource, under its etag: a patch
        landing in between makes this a 412, never a publication of something not validated."""
        stored = self.get(tenant, id, with_secrets=True)
        if not is_draft(stored.doc):
            raise InvalidRequest(
                f"The {self.kind} resource {id} is already published (its state is '{stored.doc.get('state')}'); "
                "only a draft (created with mode=draft) can be published.",
                code="1422",
            )
        doc, secrets = self.completed(tenant, stored)
        doc = {
            **stored.doc,
            **doc,
            "state": "enabled",
            "updatedBy": principal.client_id,
            "updatedClient": principal.client_id,
        }
        return self.resources.update(self.kind, tenant, id, doc, secrets, if_etag=stored.etag)

    def patch(
        self,
        tenant: Tenant,
        principal: Principal,
        id: str,
        operations: Any,
        if_match: str | None,
        validate: Callable[[dict[str, Any], dict[str, Any]], dict[str, str] | None],
    ) -> Stored:
        """Apply JSON Patch to the document under ``If-Match``; ``validate(old, new)`` checks the result and
        returns the secrets to store (None keeps the stored ones)."""
        if not if_match:
            raise InvalidRequest(
                "The header 'If-Match' is missing in the request. Please provide the header and try again.",
                code="1403",
                title="Header is missing",
            )
        stored = self.get(tenant, id)
        patch = parse_patch(operations)
        for op in patch:
            root = op["path"].split("/")[1] if op["path"].startswith("/") else ""
            if root in SYSTEM_FIELDS:
                raise InvalidRequest(f"The field '{root}' is managed by the server and cannot be patched.", code="1455")
        try:
            new_doc = jsonpatch.apply_patch(copy.deepcopy(stored.doc), patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise InvalidRequest(
                f"An error has occurred while validating patch instructions: {exc}.", code="1455"
            ) from None
        new_doc.update(updatedBy=principal.client_id, updatedClient=principal.client_id)
        secrets = validate(stored.doc, new_doc)
        return self.resources.update(self.kind, tenant, id, new_doc, secrets, if_etag=if_match)


def parse_patch(operations: Any) -> list[dict[str, Any]]:
    if isinstance(operations, dict):
        operations = [operations]
    if not isinstance(operations, list) or not operations:
        raise InvalidRequest("The PATCH body must be a non-empty JSON Patch array.", code="1455")
    result = []
    for index, op in enumerate(operations):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise InvalidRequest(
                f"An error has occurred while validating patch instructions: operation {index} needs 'op' and 'path'.",
                code="1455",
            )
        name = str(op["op"]).lower()
        if name not in _PATCH_OPS:
            raise InvalidRequest(
                f"Unsupported operation '{op['op']}' received. Please use one of the supported operation types "
                "(add, replace, remove) and try again.",
                code="1434",
            )
        if not isinstance(op["path"], str) or not op["path"].startswith("/"):
            raise InvalidRequest(f"Patch operation {index}: 'path' must be a JSON Pointer such as /name.", code="1455")
        if name in ("add", "replace", "test") and "value" not in op:
            raise InvalidRequest(f"Patch operation {index} ({name}) needs a 'value'.", code="1455")
        result.append({**op, "op": name})
    return result


def newest_first(doc: dict[str, Any]) -> tuple[int, str]:
    return (-int(doc.get("createdAt", 0)), str(doc.get("id", "")))


def resources_using(resources: Resources, tenant: Tenant, kind: str, field: str, id: str) -> builtins.list[Stored]:
    """The resources of ``kind`` whose top-level ``field`` names ``id``."""
    return [r for r in resources.list(kind, tenant) if r.doc.get(field) == id]
