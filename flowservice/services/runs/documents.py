"""Run documents: created by the schedule or on demand (``POST /runs``), re-triggered, their row errors read
back. Their documents follow the run contract of Flow Service; the engine fills them in as a run goes
(``progress``)."""

from __future__ import annotations

import json
from typing import Any

from flowservice.domain.errors import InvalidRequest, NotFound, PreconditionFailed
from flowservice.domain.schedule import MAX_EPOCH_SECONDS, MILLISECONDS_THRESHOLD
from flowservice.domain.tenancy import Principal, Tenant
from flowservice.ports import Resources, RunErrors, RunQueue, Stored
from flowservice.services.connections import require_enabled
from flowservice.services.drafts import is_draft
from flowservice.services.flows import FlowPlan, FlowService
from flowservice.services.request_budget import RequestBudget
from flowservice.services.resources import SYSTEM_FIELDS, ResourceService, new_id, require_object

#: the on-demand run param that asks this run to read its table in full (a backfill; ``engine.py``)
FULL_REFRESH = "fullRefresh"
#: what a caller may change on a run (``PUT /runs/{id}``); everything else is the engine's or fixed at creation
RUN_CALLER_FIELDS = ("name", "description")
MAX_RUN_NAME = 256
MAX_RUN_DESCRIPTION = 4096
# fields of Adobe's UpdateFlowRunRequest (and of the run document) that only the engine writes as the run goes
_ENGINE_FIELDS = frozenset({"metrics", "activities", "state", "batchId", "recordTypes", "transformations"})
# fields fixed when the run is created (by the schedule or POST /runs), or that this server does not model
_FIXED_FIELDS = frozenset(
    {
        "flowId",
        "flowSpec",
        "providerRefId",
        "params",
        "windowExtensions",
        "parentFlowRunId",
        "childFlowRunIds",
        "predecessors",
    }
)


class LostClaim(Exception):
    """Another worker took the run over (this one was presumed dead), or the run was cancelled: stop without
    touching the run."""


def new_run_doc(
    flow: Stored,
    tenant: Tenant,
    created_by: str,
    window: tuple[int, int] | None,
    kind: str,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    extensions = {"windowStart": window[0] * 1000, "windowEnd": window[1] * 1000} if window else {}
    return {
        "flowId": flow.id,
        "flowSpec": flow.doc["flowSpec"],
        "sandboxId": tenant.sandbox,
        "sandboxName": tenant.sandbox,
        "imsOrgId": tenant.org,
        "createdBy": created_by,
        "updatedBy": created_by,
        "createdClient": created_by,
        "updatedClient": created_by,
        "state": "scheduled",
        "params": params or {},
        "providerRefId": f"{kind}:{flow.id}",
        "metrics": {
            "durationSummary": {},
            "sizeSummary": {"inputBytes": 0, "outputBytes": 0},
            "recordSummary": {
                "inputRecordCount": 0,
                "outputRecordCount": 0,
                "failedRecordCount": 0,
                "deletedRecordCount": 0,
            },
            "fileSummary": {},
            "statusSummary": {"status": "scheduled", "errors": [], "extensions": {"type": kind}},
        },
        "activities": [],
        "windowExtensions": extensions,
    }


class RunService(ResourceService):
    kind = "runs"

    def __init__(
        self,
        resources: Resources,
        flows: FlowService,
        queue: RunQueue,
        errors: RunErrors,
        budget: RequestBudget | None = None,
    ) -> None:
        super().__init__(resources)
        self.flows = flows
        self.queue = queue
        self.row_errors = errors
        self.budget = budget

    def create(self, tenant: Tenant, principal: Principal, body: Any) -> Stored:
        """An on-demand run of a flow (any schedule; Adobe allows it for one-time flows only). Counted in the
        caller's budget first (429 past it), before any work."""
        if self.budget is not None:
            self.budget.take(tenant.org, principal.client_id)
        body = require_object(body)
        flow_id = body.get("flowId")
        if not isinstance(flow_id, str) or not flow_id:
            raise InvalidRequest(
                "The flow ID cannot be null or empty. Please update the flow ID and try again.", code="1446"
            )
        try:
            flow = self.flows.get(tenant, flow_id)
        except NotFound:
            raise InvalidRequest(f"Flow not found with id {flow_id}.", code="1430") from None
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise InvalidRequest("The field 'params' must be an object.")
        plan = self._runnable(tenant, flow)
        if FULL_REFRESH in params and not isinstance(params[FULL_REFRESH], bool):
            raise InvalidRequest(
                f"The run param '{FULL_REFRESH}' must be true or false; got {_shown(params[FULL_REFRESH])}."
            )
        delta = (params.get("deltaColumn") or {}).get("name") if isinstance(params.get("deltaColumn"), dict) else None
        current = plan.delta_column
        if delta and delta != current:
            raise InvalidRequest(f"The deltaColumn of flow {flow_id} is '{current}'; it cannot be changed by a run.")
        window = None
        if "windowStartTime" in params and "windowEndTime" in params:
            window = (_seconds(params["windowStartTime"]), _seconds(params["windowEndTime"]))
            if window[0] >= window[1]:
                raise InvalidRequest("The run params windowStartTime must be before windowEndTime.")
        run_id = new_id()
        doc = new_run_doc(flow, tenant, principal.client_id, window, "on-demand", params)
        self.queue.enqueue(self.kind, tenant, run_id, flow_id, doc, None, connection_id=plan.base_connection_id)
        return self.get(tenant, run_id)

    def retrigger(self, tenant: Tenant, principal: Principal, id: str, op: str | None) -> Stored:
        name = (op or "").strip().lower().replace("_", "-")
        if name != "re-trigger":
            raise InvalidRequest(f"Unsupported operation '{op}' received; use re-trigger.", code="1434")
        stored = self.get(tenant, id)
        status = stored.doc["metrics"]["statusSummary"]["status"]
        if status != "failed":
            raise InvalidRequest(
                f"You can only retry dataflow runs that have failed; run {id} is {status}.", code="1422"
            )
        self._runnable(tenant, self.flows.get(tenant, stored.doc["flowId"]))
        doc = _rescheduled(stored.doc, principal)
        # on the etag read: a PUT landing between the read and this write is kept (read again), never lost
        for _ in range(5):
            try:
                updated = self.resources.update(self.kind, tenant, id, doc, None, if_etag=stored.etag)
                break
            except PreconditionFailed:
                stored = self.get(tenant, id)
                if stored.doc["metrics"]["statusSummary"]["status"] != "failed":
                    raise InvalidRequest(
                        f"The run {id} changed meanwhile and is no longer failed.", code="1422"
                    ) from None
                doc = _rescheduled(stored.doc, principal)
        else:
            raise PreconditionFailed(f"The run {id} kept changing; re-trigger it again.")
        self.queue.requeue(id)
        return updated

    def update(self, tenant: Tenant, principal: Principal, id: str, body: Any, if_match: str | None) -> Stored:
        """``PUT /runs/{id}`` under ``If-Match``: the caller's fields (``RUN_CALLER_FIELDS``) change; any other
        field may be sent only with its current value (a GET's document sent back), else a 400 names it.

        Fenced like the engine's writes: the store checks ``If-Match`` and swaps the document in one
        transaction, and the engine's own updates swap on the etag they read. So a PUT based on a document the
        engine has since changed gets 412 (read again), and the engine re-reads a document a PUT changed
        before writing its metrics over it: neither loses the other's update."""
        if not if_match:
            raise InvalidRequest(
                "The header 'If-Match' is missing in the request. Please provide the header and try again.",
                code="1403",
                title="Header is missing",
            )
        body = require_object(body)
        stored = self.get(tenant, id)
        doc = dict(stored.doc)
        for field, value in body.items():
            if field in RUN_CALLER_FIELDS:
                _set_caller_field(doc, field, value)
            elif field in doc and value == doc[field]:
                continue  # sent back unchanged
            else:
                raise InvalidRequest(_refusal(field))
        doc.update(updatedBy=principal.client_id, updatedClient=principal.client_id)
        return self.resources.update(self.kind, tenant, id, doc, None, if_etag=if_match)

    def _runnable(self, tenant: Tenant, flow: Stored) -> FlowPlan:
        """The plan of ``flow`` when it may run now: the flow and its base connection are enabled (a draft is
        neither: it never runs, and the scheduler skips it as it skips any flow not enabled)."""
        if is_draft(flow.doc):
            raise InvalidRequest(
                f"The flow {flow.id} is a draft: a draft never runs. Publish it (POST /flows/{flow.id}/action"
                "?op=publish) before running it.",
                code="1422",
            )
        if flow.doc.get("state") != "enabled":
            raise InvalidRequest(
                f"The flow {flow.id} is {flow.doc.get('state')}; enable it (POST /flows/{flow.id}/action?op=enable) "
                "before running it.",
                code="1422",
            )
        plan = self.flows.plan(tenant, flow.id)
        require_enabled(self.flows.connections.get(tenant, plan.base_connection_id))
        return plan

    def errors(self, tenant: Tenant, id: str, start: int, limit: int) -> dict[str, Any]:
        stored = self.get(tenant, id)
        return {
            "runId": id,
            "failedRecordCount": stored.doc["metrics"]["recordSummary"]["failedRecordCount"],
            "errors": self.row_errors.errors(id, start, limit),
        }


def _rescheduled(doc: dict[str, Any], principal: Principal) -> dict[str, Any]:
    doc = {**doc, "state": "scheduled", "updatedBy": principal.client_id}
    doc["metrics"] = {**doc["metrics"], "statusSummary": {**doc["metrics"]["statusSummary"], "status": "scheduled"}}
    return doc


def _set_caller_field(doc: dict[str, Any], field: str, value: Any) -> None:
    if value is None and field == "description":
        doc.pop(field, None)
        return
    if not isinstance(value, str) or (field == "name" and not value.strip()):
        kind = "a non-empty string" if field == "name" else "a string (or null to remove it)"
        raise InvalidRequest(f"The field '{field}' of a run must be {kind}.")
    limit = MAX_RUN_NAME if field == "name" else MAX_RUN_DESCRIPTION
    if len(value) > limit:
        raise InvalidRequest(f"The field '{field}' of a run must be at most {limit} characters; got {len(value)}.")
    doc[field] = value.strip() if field == "name" else value


def _refusal(field: str) -> str:
    allowed = " and ".join(RUN_CALLER_FIELDS)
    if field in _ENGINE_FIELDS:
        why = "is written by the engine as the run goes"
    elif field in _FIXED_FIELDS:
        why = "is fixed when the run is created"
    elif field in SYSTEM_FIELDS:
        why = "is managed by the server"
    else:
        why = "is not a field of a run this server stores"
    return f"The field '{field[:64]}' {why} and cannot be changed; a PUT on a run may change only {allowed}."


def _shown(value: Any) -> str:
    """A caller's value in a message as JSON, bounded (a string stays quoted, so "true" reads as text)."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:40] + "…"


def full_refresh_requested(doc: dict[str, Any]) -> bool:
    """Whether the run was created with ``params.fullRefresh`` true (checked to be a bool at creation)."""
    params = doc.get("params")
    return isinstance(params, dict) and params.get(FULL_REFRESH) is True


def _seconds(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidRequest(f"Invalid epoch time {str(value)[:40]!r} in run params.") from None
    seconds = number // 1000 if number >= MILLISECONDS_THRESHOLD else number
    if not 0 <= seconds <= MAX_EPOCH_SECONDS:
        raise InvalidRequest(f"Epoch times in run params must be between 0 and {MAX_EPOCH_SECONDS} seconds.")
    return seconds
