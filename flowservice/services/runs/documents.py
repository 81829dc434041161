"""Run documents: created by the schedule or on demand (``POST /runs``), re-triggered, their row errors read
back. Their documents follow the run contract of Flow Service; the engine fills them in as a run goes
(``progress``)."""

from __future__ import annotations

from typing import Any

from flowservice.domain.errors import InvalidRequest, NotFound
from flowservice.domain.schedule import MAX_EPOCH_SECONDS, MILLISECONDS_THRESHOLD
from flowservice.domain.tenancy import Principal, Tenant
from flowservice.ports import Resources, RunErrors, RunQueue, Stored
from flowservice.services.connections import require_enabled
from flowservice.services.drafts import is_draft
from flowservice.services.flows import FlowPlan, FlowService
from flowservice.services.resources import ResourceService, new_id, require_object


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

    def __init__(self, resources: Resources, flows: FlowService, queue: RunQueue, errors: RunErrors) -> None:
        super().__init__(resources)
        self.flows = flows
        self.queue = queue
        self.row_errors = errors

    def create(self, tenant: Tenant, principal: Principal, body: Any) -> Stored:
        """An on-demand run of a flow (any schedule; Adobe allows it for one-time flows only)."""
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
        self.queue.enqueue(self.kind, tenant, run_id, flow_id, doc, None)
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
        doc = {**stored.doc, "state": "scheduled", "updatedBy": principal.client_id}
        doc["metrics"] = {**doc["metrics"], "statusSummary": {**doc["metrics"]["statusSummary"], "status": "scheduled"}}
        updated = self.resources.update(self.kind, tenant, id, doc, None, if_etag=None)
        self.queue.requeue(id)
        return updated

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


def _seconds(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidRequest(f"Invalid epoch time {str(value)[:40]!r} in run params.") from None
    seconds = number // 1000 if number >= MILLISECONDS_THRESHOLD else number
    if not 0 <= seconds <= MAX_EPOCH_SECONDS:
        raise InvalidRequest(f"Epoch times in run params must be between 0 and {MAX_EPOCH_SECONDS} seconds.")
    return seconds
