"""What the metrics read from the database at scrape time: runs by state, the queue, and how fresh each flow's
data is. Computed from the shared tables, so the figures are right whichever process ran the runs.

Each query is one grouped statement over an index or the run documents (whose number retention bounds); a
scrape costs a few of them, whatever the number of workers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

from flowservice.domain.clock import now_ms

_SUCCEEDED = "('success', 'partialSuccess')"


@dataclass(frozen=True)
class QueueOfOrg:
    org: str
    queued: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class FlowFreshness:
    org: str
    sandbox: str
    flow_id: str
    age_seconds: float
    """Now minus the start of the flow's newest successful run: every source change made before that start has
    landed (a run reads at least what its source held when it started)."""


class ObservedState:
    def __init__(self, engine: Engine, *, max_flows: int = 5000) -> None:
        self._engine = engine
        self.max_flows = max_flows
        pg = engine.dialect.name == "postgresql"
        state = "(doc::jsonb)->>'state'" if pg else "json_extract(doc, '$.state')"
        flow = "(doc::jsonb)->>'flowId'" if pg else "json_extract(doc, '$.flowId')"
        started = (
            "((doc::jsonb)->'metrics'->'durationSummary'->>'startedAtUTC')::bigint"
            if pg
            else "json_extract(doc, '$.metrics.durationSummary.startedAtUTC')"
        )
        # the fragments are constants of this module, never input
        self._runs = text(
            f"SELECT org, {state} AS state, count(*) FROM resources WHERE kind = 'runs' GROUP BY 1, 2"  # noqa: S608
        )
        self._freshness = text(
            f"SELECT org, sandbox, {flow} AS flow, max({started}) AS started FROM resources "  # noqa: S608
            f"WHERE kind = 'runs' AND {state} IN {_SUCCEEDED} GROUP BY 1, 2, 3 ORDER BY 4 LIMIT :limit"
        )

    def ping(self) -> None:
        """Raise when the database does not answer a trivial query."""
        with self._engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar()

    def runs_by_state(self) -> dict[tuple[str, str], int]:
        """(org, state) → run documents: scheduled (queued), inProgress, success, partialSuccess, failed, …"""
        with self._engine.connect() as conn:
            return {(org, state or "unknown"): count for org, state, count in conn.execute(self._runs)}

    def queue(self) -> list[QueueOfOrg]:
        """Queued runs per org and the age of the oldest (the index on status and created_at answers it)."""
        now = now_ms()
        statement = text("SELECT org, count(*), min(created_at) FROM run_queue WHERE status = 'queued' GROUP BY org")
        with self._engine.connect() as conn:
            return [
                QueueOfOrg(org, count, max(0.0, (now - oldest) / 1000))
                for org, count, oldest in conn.execute(statement)
            ]

    def freshness(self) -> list[FlowFreshness]:
        """Per flow with a successful run, its data's age; the stalest ``max_flows`` flows when there are more."""
        now = now_ms()
        with self._engine.connect() as conn:
            rows = conn.execute(self._freshness, {"limit": self.max_flows}).all()
        return [
            FlowFreshness(org, sandbox, flow, max(0.0, (now - int(started)) / 1000))
            for org, sandbox, flow, started in rows
            if flow and started is not None
        ]
