"""Flows: validated in the documented order (spec → connections → transformations → schedule → options),
enabled or disabled by actions, and resolved into a ``FlowPlan`` that the run engine executes."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field, replace
from typing import Any

from flowservice.domain import listing
from flowservice.domain.errors import InvalidRequest, NotFound, PreconditionFailed
from flowservice.domain.mapping import MappingSet
from flowservice.domain.schedule import Schedule, default_schedule_params, parse_schedule
from flowservice.domain.tenancy import Principal, Tenant
from flowservice.ports import Resources, RunQueue, Stored, TableSchema, WriteMode
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
)
from flowservice.services.flow_connections import column_names, source_options
from flowservice.services.mapping import compile_mapping
from flowservice.services.mapping_sets import MappingSetService
from flowservice.services.resources import (
    ResourceService,
    audit_fields,
    new_id,
    newest_first,
    require_object,
)
from flowservice.services.specs import SpecCatalog


@dataclass(frozen=True)
class FlowPlan:
    """Everything a run needs, resolved from the flow and the resources it names."""

    flow_id: str
    tenant: Tenant
    base_connection_id: str
    source_connection_id: str
    target_connection_id: str
    table: str
    columns: list[str] | None
    delta_column: str
    mapping: MappingSet | None
    dataset_id: str
    table_path: str
    write_mode: WriteMode
    partial_ingestion_percent: float | None
    error_diagnostics: bool
    schedule: Schedule
    mapping_id: str | None = None  # the mapping set and version ``mapping`` is (None: no Mapping transformation)
    mapping_version: int | None = None
    source_options: dict[str, Any] = field(default_factory=dict)  # ``flow_connections.source_options``


class FlowService(ResourceService):
    kind = "flows"

    def __init__(
        self,
        resources: Resources,
        specs: SpecCatalog,
        connections: ConnectionService,
        mapping_sets: MappingSetService,
        catalog: CatalogService,
        queue: RunQueue | None = None,
    ) -> None:
        super().__init__(resources)
        self.specs = specs
        self.connections = connections
        self.mapping_sets = mapping_sets
        self.catalog = catalog
        self.queue = queue  # to cancel the runs of a deleted flow

    # ------------------------------------------------------------------ create / update
    def create(self, tenant: Tenant, principal: Principal, body: Any) -> Stored:
        return self._add(tenant, principal, body, lambda body: {**self._validated(tenant, body), "state": "enabled"})

    def create_draft(self, tenant: Tenant, principal: Principal, body: Any) -> Stored:
        return self._add(tenant, principal, body, self._draft)

    def _add(
        self, tenant: Tenant, principal: Principal, body: Any, checked: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Stored:
        body = require_object(body)
        if "state" in body:
            raise InvalidRequest("`State` is not allowed in the create flow request.", code="1410")
        doc = checked(body)
        doc.update(audit_fields(principal, tenant))
        id = new_id()
        doc["runs"] = f"/runs?property=flowId=={id}"
        doc["lastOperation"] = {"operation": "create", "status": {"value": "completed", "errors": []}}
        return self.resources.add(self.kind, tenant, id, doc, {})

    def _draft(self, body: dict[str, Any]) -> dict[str, Any]:
        """A draft flow: its spec (which must allow drafts) and the fields it was sent, each of its type; the
        connections it names need not exist yet, nor the columns and mapping set its transformations name."""
        spec_ref, spec = self._spec(body)
        require_draft_support(spec.get("attributes"), f"flow spec {spec['id']} ({spec['name']})")
        check_types(
            body,
            strings=("name", "description"),
            id_lists=("sourceConnectionIds", "targetConnectionIds"),
            object_lists=("transformations",),
            objects=("scheduleParams",),
        )
        _options(body.get("options"))
        version = str(spec_ref.get("version") or spec["version"])
        return {**present(body, _FLOW_FIELDS), "flowSpec": {"id": spec["id"], "version": version}, "state": DRAFT}

    def completed(self, tenant: Tenant, stored: Stored) -> tuple[dict[str, Any], dict[str, str] | None]:
        """The flow as a plain create makes it; a draft without a schedule starts its default one now."""
        doc = self._validated(tenant, present(stored.doc, _FLOW_FIELDS), stored.id)
        doc["lastOperation"] = {"operation": "publish", "status": {"value": "completed", "errors": []}}
        return doc, None

    def _spec(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        spec_ref = body.get("flowSpec")
        if not isinstance(spec_ref, dict) or not spec_ref.get("id"):
            raise InvalidRequest("The field 'flowSpec.id' is required.", code="1413")
        return spec_ref, self.specs.flow(spec_ref["id"])

    def _validated(self, tenant: Tenant, body: dict[str, Any], flow_id: str | None = None) -> dict[str, Any]:
        spec_ref, spec = self._spec(body)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest("The field 'name' is required and must be a non-empty string.")
        sources = self._connections(
            tenant, body, "sourceConnectionIds", "sourceConnections", spec["sourceConnectionSpecIds"]
        )
        targets = self._connections(
            tenant, body, "targetConnectionIds", "targetConnections", spec["targetConnectionSpecIds"]
        )
        source, target = sources[0], targets[0]
        transformations = body.get("transformations") or []
        if not isinstance(transformations, list):
            raise InvalidRequest("The field 'transformations' must be an array.")
        copy, mapping_ref = self._transformations(transformations)
        plan_schema = self._source_schema(tenant, source)
        delta = copy["deltaColumn"]["name"]
        if delta not in {c.name for c in plan_schema.columns}:
            raise InvalidRequest(
                f"The deltaColumn '{delta}' is not a column of table '{plan_schema.table.name}'.", code="1419"
            )
        dataset = self.catalog.dataset(tenant, target.doc["params"]["dataSetId"])
        if mapping_ref is not None:
            version = self._mapping_version(tenant, mapping_ref)
            if mapping_ref.get("mappingVersion") is None:  # pinned: no version named is the latest one now
                mapping_ref["mappingVersion"] = version
            mapping = self.mapping_sets.parsed(tenant, mapping_ref["mappingId"], version)
            compiled = compile_mapping(mapping, _selected(plan_schema, source).arrow_schema())
            self._check_primary_key(mapping, plan_schema, target)
            ds_schema = (dataset.doc.get("schemaRef") or {}).get("id")
            if ds_schema and mapping.schema_ref and ds_schema != mapping.schema_ref:
                raise InvalidRequest(
                    f"Error while matching schema in target dataset {dataset.id} with schema in mapping "
                    f"{mapping_ref['mappingId']}. Schema with same id and version must be used in both mapping and "
                    "target dataset.",
                    code="1425",
                )
            del compiled
        schedule_params = body.get("scheduleParams")
        if schedule_params is None or schedule_params == {}:
            schedule_params = default_schedule_params(int(time.time()))
        parse_schedule(schedule_params)
        options = _options(body.get("options"))
        self._check_single_writer(tenant, dataset.id, flow_id)  # last: the documented checks come first
        return {
            "name": name,
            "description": body.get("description") or "",
            "flowSpec": {"id": spec["id"], "version": str(spec_ref.get("version") or spec["version"])},
            "sourceConnectionIds": [s.id for s in sources],
            "targetConnectionIds": [t.id for t in targets],
            "inheritedAttributes": {
                "sourceConnections": [
                    {
                        "id": s.id,
                        "connectionSpec": s.doc["connectionSpec"],
                        "baseConnection": s.doc["inheritedAttributes"]["baseConnection"],
                    }
                    for s in sources
                ],
                "targetConnections": [{"id": t.id, "connectionSpec": t.doc["connectionSpec"]} for t in targets],
                "properties": {"isSourceFlow": True},
            },
            "transformations": transformations,
            "scheduleParams": schedule_params,
            **({"options": options} if options else {}),
        }

    def _check_single_writer(self, tenant: Tenant, dataset_id: str, flow_id: str | None) -> None:
        """A dataset has one writer. A full resync deletes the dataset's keys its source lacks; with two flows
        writing one dataset, that would delete every row the other flow wrote (see docs/architecture.md)."""
        for flow in self.resources.list(self.kind, tenant):
            if flow.id == flow_id or is_draft(flow.doc):  # a draft writes nothing; it is checked when published
                continue
            for target_id in flow.doc.get("targetConnectionIds", []):
                target = self.resources.get("targetConnections", tenant, target_id)
                if target is not None and (target.doc.get("params") or {}).get("dataSetId") == dataset_id:
                    raise InvalidRequest(
                        f"The dataset {dataset_id} is already the target of flow {flow.id}; a dataset takes the "
                        "rows of one flow only. Create another dataset for this flow.",
                        code="1447",
                    )

    def _check_table_kept(self, tenant: Tenant, old: dict[str, Any], new: dict[str, Any]) -> None:
        """A flow whose dataset holds rows keeps its table: another table's rows would mix with them."""
        if old.get("sourceConnectionIds") == new.get("sourceConnectionIds"):
            return
        tables = []
        for doc in (old, new):
            source = self.resources.get("sourceConnections", tenant, doc["sourceConnectionIds"][0])
            tables.append(source.doc["params"].get("tableName") if source is not None else None)
        if tables[0] is None or tables[0] == tables[1]:
            return
        target = self.resources.get("targetConnections", tenant, old["targetConnectionIds"][0])
        dataset = self.resources.get("dataSets", tenant, target.doc["params"]["dataSetId"]) if target else None
        if dataset is not None and self.catalog.lake.stats(dataset.doc["lake"]["path"]).get("rows"):
            raise InvalidRequest(
                f"The flow's dataset {dataset.id} holds rows of table '{tables[0]}'; its source connection cannot "
                "change to one of another table. Create a new flow and dataset instead.",
                code="1414",
            )

    def _connections(
        self, tenant: Tenant, body: dict[str, Any], field: str, kind: str, allowed: list[str]
    ) -> list[Stored]:
        ids = body.get(field)
        if not isinstance(ids, list) or len(ids) != 1 or not isinstance(ids[0], str):
            raise InvalidRequest(f"The field '{field}' must list exactly one id.")
        found = self.resources.get(kind, tenant, ids[0])
        if found is None:
            raise InvalidRequest(f"The {kind} resource {ids[0]} named in '{field}' does not exist.")
        require_published(found, field)
        if found.doc["connectionSpec"]["id"] not in allowed:
            raise InvalidRequest(
                f"The connection spec {found.doc['connectionSpec']['id']} of {kind} {ids[0]} is not supported by "
                "this flow spec.",
                code="1413",
            )
        return [found]

    @staticmethod
    def _transformations(items: list[Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        copy, mapping = None, None
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("params"), dict):
                raise InvalidRequest(f"transformations[{index}] must be an object with 'name' and 'params'.")
            name = str(item.get("name", "")).lower()
            if name == "copy":
                copy = item["params"]
            elif name == "mapping":
                mapping = item["params"]
                if not mapping.get("mappingId"):
                    raise InvalidRequest(f"transformations[{index}].params.mappingId is required.", code="1419")
            else:
                raise InvalidRequest(f"transformations[{index}].name '{item.get('name')}' is not Copy or Mapping.")
        if copy is None:
            raise InvalidRequest("A 'Copy' transformation with params.deltaColumn.name is required for CRM sources.")
        delta = copy.get("deltaColumn")
        if not isinstance(delta, dict) or not isinstance(delta.get("name"), str) or not delta["name"]:
            raise InvalidRequest("transformations Copy: params.deltaColumn.name is required.")
        return copy, mapping

    def _source_schema(self, tenant: Tenant, source: Stored) -> TableSchema:
        options = source_options(source.doc["params"])
        base = source.doc["baseConnectionId"]
        with closing(self.connections.open_source(tenant, base, interactive=True, options=options)) as client:
            return client.describe(source.doc["params"]["tableName"])

    @staticmethod
    def _check_primary_key(mapping: MappingSet, schema: TableSchema, target: Stored) -> None:
        pk = schema.table.primary_key
        if target.doc["params"].get("writeMode", "merge") == "merge" and pk and mapping.destination_for(pk) is None:
            raise InvalidRequest(
                f"Merge mode keeps one row per primary key, so the mapping must copy the primary key column '{pk}' "
                "(an ATTRIBUTE mapping).",
                code="1419",
            )

    def update(self, tenant: Tenant, principal: Principal, id: str, ops: Any, if_match: str | None) -> Stored:
        def validate(old: dict[str, Any], new: dict[str, Any]) -> None:
            if is_draft(old):
                keep_draft_state(self.kind, id, new)
                new.update(self._draft({k: v for k, v in new.items() if k != "state"}))
            else:
                if new.get("state") not in ("enabled", "disabled"):
                    raise InvalidRequest(
                        "The field 'state' must be enabled or disabled; use the enable/disable actions."
                    )
                revalidated = self._validated(tenant, {k: v for k, v in new.items() if k != "state"}, id)
                self._check_table_kept(tenant, old, revalidated)
                new.update(revalidated)
            new["lastOperation"] = {
                "operation": "update",
                "ops": ops if isinstance(ops, list) else [ops],
                "status": {"value": "completed", "errors": []},
            }

        return self.patch(tenant, principal, id, ops, if_match, validate)

    def action(self, tenant: Tenant, principal: Principal, id: str, op: str | None) -> Stored:
        name = (op or "").strip().lower().replace("_", "-")
        stored = self.get(tenant, id)
        if name == "publish":
            return self.publish(tenant, principal, id)
        if name not in ("enable", "disable"):
            raise InvalidRequest(
                f"Unsupported operation '{(op or '')[:40]}' received; use enable, disable or publish.", code="1434"
            )
        if is_draft(stored.doc):
            raise InvalidRequest(
                f"The action {name} cannot be applied on the current state draft: flow {id} is a draft. Publish it "
                f"(POST /flows/{id}/action?op=publish); a published flow is enabled.",
                code="1422",
            )
        target = "enabled" if name == "enable" else "disabled"
        doc = {
            **stored.doc,
            "state": target,
            "updatedBy": principal.client_id,
            "lastOperation": {"operation": name, "status": {"value": "completed", "errors": []}},
        }
        return self.resources.update(self.kind, tenant, id, doc, None, if_etag=None)

    def delete(self, tenant: Tenant, id: str) -> None:
        """Delete the flow and cancel its queued and running runs first: a running one stops at its next fence
        check without writing, so nothing lands (or re-creates a table) for a flow that is gone."""
        self.get(tenant, id)
        if self.queue is not None:
            for run_id in self.queue.cancel_flow(id):
                self._mark_cancelled(tenant, run_id, id)
        self.resources.delete(self.kind, tenant, id)

    def _mark_cancelled(self, tenant: Tenant, run_id: str, flow_id: str) -> None:
        error = {"code": "FLOW-1447-400", "message": f"The flow {flow_id} was deleted; the run was cancelled."}
        for _ in range(5):
            stored = self.resources.get("runs", tenant, run_id)
            if stored is None:
                return
            doc = {**stored.doc, "state": "failed"}
            doc["metrics"] = {
                **doc["metrics"],
                "statusSummary": {
                    **doc["metrics"]["statusSummary"],
                    "status": "failed",
                    "errors": [*doc["metrics"]["statusSummary"].get("errors", []), error],
                },
            }
            try:
                self.resources.update("runs", tenant, run_id, doc, None, if_etag=stored.etag)
                return
            except PreconditionFailed:  # the run's worker wrote just before the cancel: read again
                continue

    # ------------------------------------------------------------------ views
    def view(self, tenant: Tenant, doc: dict[str, Any]) -> dict[str, Any]:
        """The flow as clients see it, with ``lastRunDetails`` derived from its runs (kept out of the stored
        document so that a run finishing never changes the flow's etag under a client's feet)."""
        return self._with_last_runs(tenant, [doc])[0]

    def list(self, tenant: Tenant, params: Iterable[tuple[str, str]]) -> dict[str, Any]:
        query = listing.parse_list_query(params)
        derived = [f.path for f in query.filters] + [o.path for o in query.order]
        if any(path[0] == "lastRunDetails" for path in derived):  # filters on the view: every flow's view
            docs = self._with_last_runs(tenant, [s.doc for s in self.resources.list(self.kind, tenant)])
            return self.list_page(query, docs)
        page = self.resources.page(self.kind, tenant, query, newest_first)
        return self.envelope(query, replace(page, items=self._with_last_runs(tenant, page.items)))

    def _with_last_runs(self, tenant: Tenant, docs: builtins.list[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
        latest = self.resources.latest_runs(tenant, [doc["id"] for doc in docs])
        result = []
        for doc in docs:
            last = latest.get(doc["id"])
            if last is not None:
                duration = last["metrics"]["durationSummary"]
                doc = {
                    **doc,
                    "lastRunDetails": {
                        "id": last["id"],
                        "state": last["metrics"]["statusSummary"]["status"],
                        "startedAtUTC": duration.get("startedAtUTC"),
                        "completedAtUTC": duration.get("completedAtUTC"),
                    },
                }
            result.append(doc)
        return result

    # ------------------------------------------------------------------ plan
    def _mapping_version(self, tenant: Tenant, mapping_ref: dict[str, Any]) -> int:
        """The version of its mapping set a Mapping transformation names; it must exist (else a 400)."""
        where = "transformations Mapping: params.mappingVersion"
        return self.mapping_sets.pinned(tenant, mapping_ref["mappingId"], mapping_ref.get("mappingVersion"), where)

    def plan(self, tenant: Tenant, id: str, applied: builtins.list[Any] | None = None) -> FlowPlan:
        """The flow's plan; ``applied`` (the ``transformations`` a run recorded at its start) overrides the
        flow's Mapping, so that a retried or taken-over run keeps the mapping version it started with."""
        flow = self.get(tenant, id).doc
        source = self.resources.get("sourceConnections", tenant, flow["sourceConnectionIds"][0])
        target = self.resources.get("targetConnections", tenant, flow["targetConnectionIds"][0])
        if source is None or target is None:
            raise NotFound(f"A connection of flow {id} no longer exists.", resource_id=id, resource_type="flows")
        copy, mapping_ref = self._transformations(flow["transformations"])
        if applied is not None:
            mapping_ref = next((t["params"] for t in applied if str(t.get("name")).lower() == "mapping"), None)
        version = self._mapping_version(tenant, mapping_ref) if mapping_ref else None
        dataset = self.catalog.dataset(tenant, target.doc["params"]["dataSetId"])
        options = flow.get("options") or {}
        return FlowPlan(
            flow_id=id,
            tenant=tenant,
            base_connection_id=source.doc["baseConnectionId"],
            source_connection_id=source.id,
            target_connection_id=target.id,
            table=source.doc["params"]["tableName"],
            columns=column_names(source.doc["params"].get("columns")),
            delta_column=copy["deltaColumn"]["name"],
            mapping=self.mapping_sets.parsed(tenant, mapping_ref["mappingId"], version) if mapping_ref else None,
            dataset_id=dataset.id,
            table_path=dataset.doc["lake"]["path"],
            write_mode="append" if target.doc["params"].get("writeMode") == "append" else "merge",
            partial_ingestion_percent=options.get("partialIngestionPercent"),
            error_diagnostics=bool(options.get("errorDiagnosticsEnabled", False)),
            schedule=parse_schedule(flow["scheduleParams"]),
            mapping_id=mapping_ref["mappingId"] if mapping_ref else None,
            mapping_version=version,
            source_options=source_options(source.doc["params"]),
        )


# what a flow's body holds: a draft keeps those it was sent, publishing validates them
_FLOW_FIELDS: tuple[str, ...] = ("name", "description", "flowSpec", "sourceConnectionIds", "targetConnectionIds")
_FLOW_FIELDS += ("transformations", "scheduleParams", "options")


def _selected(schema: TableSchema, source: Stored) -> TableSchema:
    wanted = column_names(source.doc["params"].get("columns"))
    if not wanted:
        return schema
    pk = schema.table.primary_key
    keep = [c for c in schema.columns if c.name in wanted or c.name == pk]
    return TableSchema(schema.table, tuple(keep))


def _options(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidRequest("The field 'options' must be an object.")
    unknown = set(raw) - {"partialIngestionPercent", "errorDiagnosticsEnabled"}
    if unknown:
        raise InvalidRequest(f"Unknown options: {', '.join(sorted(unknown))}.")
    if "partialIngestionPercent" in raw:
        value = raw["partialIngestionPercent"]
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidRequest("options.partialIngestionPercent must be a number.") from None
        if not 0 < number <= 100:
            raise InvalidRequest("options.partialIngestionPercent must be greater than 0 and at most 100.")
    if "errorDiagnosticsEnabled" in raw and not isinstance(raw["errorDiagnosticsEnabled"], bool):
        raise InvalidRequest("options.errorDiagnosticsEnabled must be true or false.")
    return dict(raw)
