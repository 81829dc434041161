"""Source connections (which table of which base connection) and target connections (which dataset)."""

from __future__ import annotations

from contextlib import closing
from typing import Any

from jsonschema import Draft7Validator

from flowservice.domain.errors import Conflict, InvalidRequest, NotFound
from flowservice.domain.tenancy import Principal, Tenant
from flowservice.ports import Resources, Stored
from flowservice.services.catalog import CatalogService
from flowservice.services.connections import ConnectionService
from flowservice.services.drafts import (
    DRAFT,
    check_types,
    is_draft,
    keep_draft_state,
    present,
    require_draft_support,
    require_published,
    shape_message,
)
from flowservice.services.resources import ResourceService, audit_fields, new_id, require_object
from flowservice.services.specs import ConnectionSpec, SpecCatalog, validation_message


def column_names(columns: Any) -> list[str] | None:
    """``params.columns`` as names: the docs send either strings or ``{"name": ...}`` objects."""
    if not columns:
        return None
    return [c if isinstance(c, str) else c["name"] for c in columns]


#: source connection params that say what is read; the others are the source's options (``source_options``)
_READ_PARAMS = frozenset({"tableName", "columns", "entityType", "primaryKey"})


def source_options(params: Any) -> dict[str, Any]:
    """A source connection's params beyond its table and columns (Dynamics: ``lookupNames``), which the
    source applies to its schema and reads."""
    return {k: v for k, v in params.items() if k not in _READ_PARAMS} if isinstance(params, dict) else {}


def _spec_ref(body: dict[str, Any]) -> dict[str, Any]:
    spec_ref = body.get("connectionSpec") or {}
    if not isinstance(spec_ref, dict):
        raise InvalidRequest("The field 'connectionSpec' must be an object with 'id'.", code="1413")
    return spec_ref


def _common(body: dict[str, Any], spec_id: str, version: str) -> dict[str, Any]:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("The field 'name' is required and must be a non-empty string.")
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise InvalidRequest("The field 'data' must be an object.")
    return {
        "name": name,
        "description": body.get("description") or "",
        "data": data,
        "connectionSpec": {"id": spec_id, "version": version},
        "state": "enabled",
    }


def _draft_common(body: dict[str, Any], spec: ConnectionSpec, params: Draft7Validator | None) -> dict[str, Any]:
    """A draft source or target connection: its spec (which must allow drafts) and the fields it was sent, each
    of its type (``params`` checked against the spec's schema but for what it requires)."""
    require_draft_support(spec.doc.get("attributes"), f"connection spec {spec.id} ({spec.name})")
    check_types(body, strings=("name", "description", "baseConnectionId"), objects=("data", "params"))
    doc = present(body, ("name", "description", "data", "params"))
    if params is not None and "params" in doc:
        message = shape_message(params, doc["params"], "params")
        if message:
            raise InvalidRequest(message)
    version = str(_spec_ref(body).get("version") or spec.doc["version"])
    return {**doc, "connectionSpec": {"id": spec.id, "version": version}, "state": DRAFT}


_FIELDS = ("name", "description", "data", "params", "connectionSpec", "baseConnectionId")


def _flows_using(resources: Resources, tenant: Tenant, field: str, id: str, *, drafts: bool = True) -> list[str]:
    """The flows naming ``id`` in ``field``; without ``drafts``, the published ones only (a draft flow lands no
    rows, so it holds no table or dataset in place)."""
    return [
        f.id
        for f in resources.list("flows", tenant)
        if id in (f.doc.get(field) or []) and (drafts or not is_draft(f.doc))
    ]


class SourceConnectionService(ResourceService):
    kind = "sourceConnections"

    def __init__(self, resources: Resources, specs: SpecCatalog, connections: ConnectionService) -> None:
        super().__init__(resources)
        self.specs = specs
        self.connections = connections

    def create(self, tenant: Tenant, principal: Principal, body: Any) -> Stored:
        doc = self._complete(tenant, require_object(body))
        doc.update(audit_fields(principal, tenant))
        return self.resources.add(self.kind, tenant, new_id(), doc, {})

    def _spec(self, body: dict[str, Any]) -> ConnectionSpec:
        spec = self.specs.connection(_spec_ref(body).get("id", ""))
        if spec.source_validator is None:
            raise InvalidRequest(f"The connection spec {spec.id} ({spec.name}) is not a source.", code="1413")
        return spec

    def _complete(self, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._spec(body)
        base_id = body.get("baseConnectionId")
        if not isinstance(base_id, str) or not base_id:
            raise InvalidRequest("The field 'baseConnectionId' is required for a source connection.")
        try:
            base = self.connections.get(tenant, base_id)
        except NotFound:
            raise InvalidRequest(f"The base connection {base_id} does not exist in this sandbox.") from None
        if base.doc["connectionSpec"]["id"] != spec.id:
            raise InvalidRequest(
                f"The base connection {base_id} uses connection spec {base.doc['connectionSpec']['id']}, "
                f"not {spec.id}.",
                code="1413",
            )
        require_published(base, "baseConnectionId")
        doc = _common(body, spec.id, str(_spec_ref(body).get("version") or spec.doc["version"]))
        doc["data"].setdefault("format", "tabular")
        doc["params"] = self._checked_params(tenant, base_id, body.get("params"), spec.source_validator)
        doc["baseConnectionId"] = base_id
        doc["inheritedAttributes"] = {"baseConnection": {"id": base_id, "connectionSpec": base.doc["connectionSpec"]}}
        return doc

    def create_draft(self, tenant: Tenant, principal: Principal, body: Any) -> Stored:
        doc = self._draft(require_object(body))
        doc.update(audit_fields(principal, tenant))
        return self.resources.add(self.kind, tenant, new_id(), doc, {})

    def _draft(self, body: dict[str, Any]) -> dict[str, Any]:
        """The base connection need not exist yet, nor the table: both are checked when the draft is published."""
        spec = self._spec(body)
        doc = _draft_common(body, spec, spec.source_validator)
        return {**doc, **present(body, ("baseConnectionId",))}

    def completed(self, tenant: Tenant, stored: Stored) -> tuple[dict[str, Any], dict[str, str] | None]:
        return self._complete(tenant, present(stored.doc, _FIELDS)), None

    def _checked_params(self, tenant: Tenant, base_id: str, params: Any, validator: Any) -> dict[str, Any]:
        if not isinstance(params, dict):
            raise InvalidRequest("The field 'params' with 'tableName' is required.")
        message = validation_message(validator, params, "params")
        if message:
            raise InvalidRequest(message)
        options = source_options(params)
        with closing(self.connections.open_source(tenant, base_id, interactive=True, options=options)) as source:
            try:
                schema = source.describe(params["tableName"])
            except NotFound:
                raise InvalidRequest(
                    f"The table '{params['tableName']}' does not exist in the source of base connection "
                    f"{base_id}; list tables with GET /connections/{base_id}/explore?objectType=root."
                ) from None
        known = {c.name for c in schema.columns}
        unknown = [c for c in column_names(params.get("columns")) or [] if c not in known]
        if unknown:
            raise InvalidRequest(
                f"Unknown columns in params.columns for table '{params['tableName']}': {', '.join(unknown)}."
            )
        return {**params, "primaryKey": params.get("primaryKey") or schema.table.primary_key}

    def update(self, tenant: Tenant, principal: Principal, id: str, ops: Any, if_match: str | None) -> Stored:
        def validate(old: dict[str, Any], new: dict[str, Any]) -> None:
            if is_draft(old):  # a draft may still get its base connection
                if new.get("connectionSpec") != old.get("connectionSpec"):
                    raise InvalidRequest("The connection spec of a source connection cannot change.", code="1414")
                keep_draft_state(self.kind, id, new)
                new.update(self._draft(new))
                return
            if new.get("connectionSpec") != old.get("connectionSpec") or new.get("baseConnectionId") != old.get(
                "baseConnectionId"
            ):
                raise InvalidRequest(
                    "The connection spec and base connection of a source connection cannot change.", code="1414"
                )
            spec = self.specs.connection(old["connectionSpec"]["id"])
            if new.get("params") != old.get("params"):
                self._check_table_kept(tenant, id, old, new)
                new["params"] = self._checked_params(
                    tenant, old["baseConnectionId"], new.get("params"), spec.source_validator
                )

        return self.patch(tenant, principal, id, ops, if_match, validate)

    def _check_table_kept(self, tenant: Tenant, id: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        """A flow's cursor and dataset belong to one table: reading another table into that dataset would mix
        two tables in it, so a source connection in use keeps its table (its columns may change: the next run
        then reads in full)."""
        old_table = (old.get("params") or {}).get("tableName")
        new_params = new.get("params")
        new_table = new_params.get("tableName") if isinstance(new_params, dict) else None
        if new_table == old_table:
            return
        flows = _flows_using(self.resources, tenant, "sourceConnectionIds", id, drafts=False)
        if flows:
            raise InvalidRequest(
                f"The table of source connection {id} cannot change while flow {flows[0]} uses it: the flow's "
                f"dataset holds rows of table '{old_table}'. Create a new source connection and flow for the "
                "other table.",
                code="1414",
            )

    def check_deletable(self, tenant: Tenant, id: str) -> None:
        flows = _flows_using(self.resources, tenant, "sourceConnectionIds", id)
        if flows:
            raise Conflict(
                f"Found active flows containing id {id}: {', '.join(flows)}. Delete the flows first.", code="1447"
            )


class TargetConnectionService(ResourceService):
    kind = "targetConnections"

    def __init__(self, resources: Resources, specs: SpecCatalog, catalog: CatalogService) -> None:
        super().__init__(resources)
        self.specs = specs
        self.catalog = catalog

    def create(self, tenant: Tenant, principal: Principal, body: Any) -> Stored:
        doc = self._complete(tenant, require_object(body))
        doc.update(audit_fields(principal, tenant))
        return self.resources.add(self.kind, tenant, new_id(), doc, {})

    def _spec(self, body: dict[str, Any]) -> ConnectionSpec:
        spec = self.specs.connection(_spec_ref(body).get("id", ""))
        if spec.target_validator is None:
            raise InvalidRequest(f"The connection spec {spec.id} ({spec.name}) is not a target.", code="1413")
        return spec

    def _complete(self, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._spec(body)
        doc = _common(body, spec.id, str(_spec_ref(body).get("version") or spec.doc["version"]))
        doc["params"] = self._checked_params(tenant, body.get("params"), spec.target_validator)
        return doc

    def create_draft(self, tenant: Tenant, principal: Principal, body: Any) -> Stored:
        """The dataset need not exist yet: it is checked when the draft is published."""
        body = require_object(body)
        spec = self._spec(body)
        doc = _draft_common(body, spec, spec.target_validator)
        doc.update(audit_fields(principal, tenant))
        return self.resources.add(self.kind, tenant, new_id(), doc, {})

    def completed(self, tenant: Tenant, stored: Stored) -> tuple[dict[str, Any], dict[str, str] | None]:
        return self._complete(tenant, present(stored.doc, _FIELDS)), None

    def _checked_params(self, tenant: Tenant, params: Any, validator: Any) -> dict[str, Any]:
        if not isinstance(params, dict):
            raise InvalidRequest("The field 'params' with 'dataSetId' is required.")
        message = validation_message(validator, params, "params")
        if message:
            raise InvalidRequest(message)
        try:
            self.catalog.dataset(tenant, params["dataSetId"])
        except NotFound:
            raise InvalidRequest(
                f"The dataset {params['dataSetId']} does not exist; create it with POST "
                "/data/foundation/catalog/dataSets first."
            ) from None
        return {**params, "writeMode": str(params.get("writeMode", "merge")).lower()}

    def update(self, tenant: Tenant, principal: Principal, id: str, ops: Any, if_match: str | None) -> Stored:
        def validate(old: dict[str, Any], new: dict[str, Any]) -> None:
            if new.get("connectionSpec") != old.get("connectionSpec"):
                raise InvalidRequest("The connection spec of a target connection cannot be updated.", code="1414")
            if is_draft(old):
                keep_draft_state(self.kind, id, new)
                spec = self.specs.connection(old["connectionSpec"]["id"])
                new.update(_draft_common(new, spec, spec.target_validator))
                return
            if new.get("params") != old.get("params"):
                if _flows_using(self.resources, tenant, "targetConnectionIds", id, drafts=False):
                    raise InvalidRequest(
                        "The dataset or write mode of a target connection used by a flow cannot "
                        "change; create a new flow instead.",
                        code="1447",
                    )
                spec = self.specs.connection(old["connectionSpec"]["id"])
                new["params"] = self._checked_params(tenant, new.get("params"), spec.target_validator)

        return self.patch(tenant, principal, id, ops, if_match, validate)

    def check_deletable(self, tenant: Tenant, id: str) -> None:
        flows = _flows_using(self.resources, tenant, "targetConnectionIds", id)
        if flows:
            raise Conflict(
                f"Found active flows containing id {id}: {', '.join(flows)}. Delete the flows first.", code="1447"
            )
