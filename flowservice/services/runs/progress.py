"""What the tenant sees of a run while it goes: its document (state, metrics, activities, following the run
contract of Flow Service) and its catalog batch. Every document update is fenced by the run's claim."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from flowservice.domain.clock import now_ms
from flowservice.domain.errors import FlowServiceError, NotFound, PreconditionFailed, SourceError
from flowservice.domain.tenancy import Tenant
from flowservice.ports import Claim, Resources, RunDocuments, Stored
from flowservice.services.resources import not_found
from flowservice.services.runs.context import Counters, RunContext
from flowservice.services.runs.documents import LostClaim
from flowservice.services.runs.samples import add_sample, samples_of

log = logging.getLogger("flowservice.engine")
PROGRESS_EVERY_SECONDS = 1.0
Change = Callable[[dict[str, Any]], dict[str, Any]]


class Batches(Protocol):
    """The catalog batch a run fills (``CatalogService``)."""

    def open_batch(self, tenant: Tenant, dataset: str, run_id: str, flow_id: str) -> str: ...

    def update_batch(self, tenant: Tenant, id: str, **changes: Any) -> None: ...


class RunProgress:
    def __init__(self, resources: Resources, documents: RunDocuments, batches: Batches) -> None:
        self.resources = resources
        self.documents = documents
        self.batches = batches

    def document(self, claim: Claim) -> dict[str, Any]:
        return self._stored(claim).doc

    def open_batch(self, ctx: RunContext) -> str:
        return self.batches.open_batch(ctx.tenant, ctx.plan.dataset_id, ctx.run_id, ctx.plan.flow_id)

    def update(self, ctx: RunContext, status: str, *, force: bool = False) -> None:
        """The run's counters so far, at most every ``PROGRESS_EVERY_SECONDS`` unless ``force``. A forced
        update (the run's start, each commit) also adds a progress sample (``samples.py``)."""
        if not force and time.monotonic() - ctx.last_progress < PROGRESS_EVERY_SECONDS:
            return
        ctx.last_progress = time.monotonic()
        counters = ctx.counters
        if not ctx.still_ours():
            raise LostClaim(ctx.run_id)

        def change(doc: dict[str, Any]) -> dict[str, Any]:
            doc["state"] = status
            doc["batchId"] = ctx.batch_id
            doc["transformations"] = applied_transformations(ctx)
            doc["metrics"] = _metrics(ctx, status, doc["metrics"], None, sample=force)
            doc["activities"] = _activities(ctx, status, doc)
            return doc

        self.update_doc(ctx.claim, change)
        self.batches.update_batch(
            ctx.tenant,
            ctx.batch_id,
            recordCount=counters.written,
            failedRecordCount=counters.failed,
            deletedRecordCount=counters.deleted,
            size=counters.bytes_out,
        )

    def final(self, ctx: RunContext, status: str, error: dict[str, str] | None) -> int:
        """The run's end in its document and batch; returns when it completed (epoch milliseconds)."""
        counters = ctx.counters
        completed = now_ms()
        if not ctx.still_ours():
            raise LostClaim(ctx.run_id)

        def change(doc: dict[str, Any]) -> dict[str, Any]:
            doc["state"] = status
            doc["batchId"] = ctx.batch_id
            doc["transformations"] = applied_transformations(ctx)
            doc["metrics"] = _metrics(ctx, status, doc["metrics"], error, completed, sample=True)
            doc["activities"] = _activities(ctx, status, doc, completed)
            return doc

        self.update_doc(ctx.claim, change)  # fenced: a stale worker stops here
        batch_status = {"success": "success", "partialSuccess": "success"}.get(status, "failed")
        self.batches.update_batch(
            ctx.tenant,
            ctx.batch_id,
            status=batch_status,
            recordCount=counters.written,
            failedRecordCount=counters.failed,
            deletedRecordCount=counters.deleted,
            size=counters.bytes_out,
            completed=completed,
            errors=[error] if error else [],
        )
        return completed

    def failed_without_plan(self, claim: Claim, exc: FlowServiceError) -> None:
        """The end of a run whose flow could not be planned (gone, or no longer valid)."""

        def change(doc: dict[str, Any]) -> dict[str, Any]:
            doc["state"] = "failed"
            doc["metrics"]["statusSummary"] = {"status": "failed", "errors": [error_entry(exc)]}
            doc["metrics"]["durationSummary"] = {"startedAtUTC": now_ms(), "completedAtUTC": now_ms()}
            return doc

        self.update_doc(claim, change)

    def update_doc(self, claim: Claim, change: Change) -> Stored:
        """Apply ``change(doc)`` to the run document, retrying on concurrent writes.

        Fenced by ``claim``: the check and the write are one transaction, and a claim that no longer holds
        the run (taken over, cancelled) raises ``LostClaim`` without writing."""
        last = PreconditionFailed(f"The run {claim.run_id} kept changing; giving up the update.")
        for _ in range(5):
            stored = self._stored(claim)
            doc = change(dict(stored.doc))
            try:
                updated = self.documents.update_run(claim, doc, stored.etag)
            except PreconditionFailed as exc:  # a concurrent writer: read again
                last = exc
                continue
            if updated is None:
                raise LostClaim(claim.run_id)
            return updated
        raise last

    def _stored(self, claim: Claim) -> Stored:
        stored = self.resources.get("runs", Tenant(claim.org, claim.sandbox), claim.run_id)
        if stored is None:
            raise not_found("runs", claim.run_id)
        return stored


def applied_transformations(ctx: RunContext) -> list[dict[str, Any]]:
    """What the run applies, in the shape of the flow's ``transformations``: its Mapping with the mapping set
    id and the version (an integer) its rows were mapped with; empty when the flow has no mapping (columns
    land as read). Written at the run's start, before anything lands; retries and takeovers read it back."""
    plan = ctx.plan
    if plan.mapping_id is None:
        return []
    return [{"name": "Mapping", "params": {"mappingId": plan.mapping_id, "mappingVersion": plan.mapping_version}}]


def status_from_failures(counters: Counters, threshold: float | None) -> str:
    """A run that landed everything it read succeeded; with failed rows, ``partialIngestionPercent`` decides."""
    if not counters.failed:
        return "success"
    percent = 100.0 * counters.failed / max(1, counters.read)
    if threshold is None:
        return "partialSuccess"
    return "success" if percent <= float(threshold) else "failed"


def internal_error(run_id: str) -> dict[str, str]:
    """The tenant's error for an unexpected exception: nothing of it (paths, messages), only where to look."""
    return {
        "code": "CONNECTOR-1102-500",
        "message": (
            f"The run {run_id} failed on an internal error. Its details are in the server log under "
            "this run id; re-trigger the run to continue from its last commit."
        ),
    }


def log_end(ctx: RunContext, status: str, completed: int) -> None:
    counters = ctx.counters
    seconds = max(0.001, (completed - ctx.started) / 1000)
    log.info(
        "run %s %s: read %d, written %d, deleted %d, failed %d in %.1fs (%.0f rows/s)",
        ctx.run_id,
        status,
        counters.read,
        counters.written,
        counters.deleted,
        counters.failed,
        seconds,
        counters.read / seconds,
    )


def error_entry(exc: FlowServiceError) -> dict[str, str]:
    prefix = "CONNECTOR" if isinstance(exc, SourceError) else ("MAPPER" if exc.code == "1419" else "FLOW")
    if isinstance(exc, NotFound):
        prefix = "FLOW"
    return {"code": f"{prefix}-{exc.code}-{exc.status}", "message": exc.message}


def _metrics(
    ctx: RunContext,
    status: str,
    old: dict[str, Any],
    error: dict[str, str] | None,
    completed: int | None = None,
    *,
    sample: bool = False,
) -> dict[str, Any]:
    c = ctx.counters
    samples = samples_of(old.get("recordSummary"))
    if sample and (c.commits or completed or not samples):  # a resumed run's start adds none: its counters
        # are those of its last commit only once it has read that commit back
        samples = add_sample(samples, [completed or now_ms(), c.read, c.written, c.deleted, c.failed])
    errors = list(ctx.notes) + ([error] if error else [])
    if c.failed:
        errors.append(
            {
                "code": "INGEST-1212-400",
                "message": f"Encountered {c.failed} errors in the data. "
                f"Successfully ingested {c.written} rows. Read the row errors at /runs/{ctx.run_id}/errors.",
            }
        )
    duration: dict[str, Any] = {"startedAtUTC": ctx.started}
    if completed:
        duration["completedAtUTC"] = completed
    return {
        "durationSummary": duration,
        "sizeSummary": {"inputBytes": c.bytes_in, "outputBytes": c.bytes_out},
        "recordSummary": {
            "inputRecordCount": c.read,
            "outputRecordCount": c.written,
            "failedRecordCount": c.failed,
            "deletedRecordCount": c.deleted,
            "extensions": {**old.get("recordSummary", {}).get("extensions", {}), "samples": samples},
        },
        "fileSummary": {"outputFileCount": c.commits, **_downloads(c)},
        "statusSummary": {
            "status": status,
            "errors": errors,
            "extensions": {
                **old.get("statusSummary", {}).get("extensions", {}),
                "fullResync": c.full_resync,
                "throttledRequests": c.throttled,
                "throttledWaitSeconds": round(c.throttled_seconds, 3),
            },
            "activityRefs": ["copyActivity", "promotionActivity"],
        },
    }


def _activities(ctx: RunContext, status: str, doc: dict[str, Any], completed: int | None = None) -> list[Any]:
    c = ctx.counters
    duration: dict[str, Any] = {"startedAtUTC": ctx.started, "extensions": doc.get("windowExtensions", {})}
    if completed:
        duration["completedAtUTC"] = completed
    return [
        {
            "id": "copyActivity",
            "updatedAtUTC": now_ms(),
            "durationSummary": duration,
            "sizeSummary": {"inputBytes": c.bytes_in, "outputBytes": c.bytes_in},
            "recordSummary": {"inputRecordCount": c.read},
            "statusSummary": {
                "status": status,
                "extensions": {
                    "type": doc["metrics"]["statusSummary"].get("extensions", {}).get("type", "scheduled"),
                    **({"schemaChanges": ctx.schema_changes} if ctx.schema_changes else {}),
                },
            },
            "sourceInfo": [
                {
                    "id": ctx.plan.source_connection_id,
                    "type": "SourceConnection",
                    "reference": {"type": "Table", "ids": [ctx.plan.table]},
                }
            ],
        },
        {
            "id": "promotionActivity",
            "updatedAtUTC": now_ms(),
            "durationSummary": {k: v for k, v in duration.items() if k != "extensions"},
            "sizeSummary": {"inputBytes": c.bytes_in, "outputBytes": c.bytes_out},
            "recordSummary": {
                "inputRecordCount": c.read,
                "outputRecordCount": c.written,
                "failedRecordCount": c.failed,
                "deletedRecordCount": c.deleted,
            },
            "statusSummary": {"status": status},
            "targetInfo": [
                {
                    "id": ctx.plan.target_connection_id,
                    "type": "TargetConnection",
                    "reference": {"type": "Batch", "ids": [ctx.batch_id]},
                    "dataSetId": ctx.plan.dataset_id,
                    "writeMode": ctx.plan.write_mode,
                }
            ],
        },
    ]


def _downloads(c: Counters) -> dict[str, Any]:
    """The file contents a run stored beside the dataset (``attachments.py``), when it was asked to."""
    if not (c.files_written or c.files_kept or c.files_skipped):
        return {}
    return {
        "extensions": {
            "filesDownloaded": c.files_written,
            "filesAlreadyStored": c.files_kept,
            "filesSkipped": c.files_skipped,
            "fileBytesDownloaded": c.file_bytes,
        }
    }
