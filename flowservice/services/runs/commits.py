"""What the engine stores in each Delta commit beside its rows: the source's cursor (the source's own format,
never read here) and, around it, the run, the claim's attempt, the run's counters, the source's identity and
the resync marks. This is stored data: commits of earlier versions are read as they are (a field they lack
reads as its default), and the layout written here is the one they wrote."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from flowservice.ports import LastCommit
from flowservice.services.runs.context import Counters, RunContext


@dataclass(frozen=True)
class SavedCommit:
    """The flow's last commit as the engine reads it; ``txn`` 0 and nothing saved when there is none."""

    txn: int
    saved: dict[str, Any]

    @classmethod
    def of(cls, last: LastCommit | None) -> SavedCommit:
        return cls(last.txn_version, last.cursor) if last else cls(0, {})

    def by(self, run_id: str) -> bool:
        return bool(self.saved.get("run_id") == run_id)

    @property
    def attempt(self) -> int:
        return int(self.saved.get("attempt") or 0)

    @property
    def final(self) -> bool:
        """The run that wrote it ended with it (its end may not be recorded yet)."""
        return bool(self.saved.get("final"))

    def counters(self) -> Counters:
        return Counters(**self.saved.get("counters", {}))

    @property
    def source_cursor(self) -> dict[str, Any] | None:
        cursor: dict[str, Any] | None = self.saved.get("source")
        return cursor

    @property
    def identity(self) -> dict[str, Any] | None:
        """What the cursor was taken from (``identity.source_identity``); None in commits older than it."""
        identity: dict[str, Any] | None = self.saved.get("identity")
        return identity

    @property
    def resync(self) -> bool:
        """The read was a full read the engine asked for (its source had changed)."""
        return bool(self.saved.get("resync"))

    @property
    def deleting_missing(self) -> bool:
        """The commit is one of a full resync's delete commits, and more were to follow."""
        return bool(self.saved.get("deleting_missing"))


def commit_metadata(
    ctx: RunContext, source_cursor: dict[str, Any], final: bool, rows: int, deletes: int
) -> dict[str, Any]:
    """The metadata of a commit of ``rows`` rows and ``deletes`` deletes, which ends at ``source_cursor``."""
    counters = ctx.counters
    return {
        "source": source_cursor,
        "run_id": ctx.run_id,
        "final": final,
        **ctx.cursor_extra,
        "attempt": ctx.claim.attempt,
        "counters": {**asdict(counters), "written": counters.written + rows, "deleted": counters.deleted + deletes},
    }
