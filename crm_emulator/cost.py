"""What a request costs the server: a model of Dataverse's execution time, spent waiting, never computing.

A real org spends about 1–3 s of server time on a 5,000-row page of a wide table (reference §9: the
execution-time budget of 1,200 s per 5 minutes then allows ~1.3–4 such pages per second). The model is
``fixed + rows × (per_row + per_column × columns)`` per operation, where ``columns`` is the number of
properties each row carries (every Web API property without ``$select``). The defaults give 2.0 s for a
5,000-row page of ``account`` (118 properties) and 0.27 s for a key-only page of the same size.

Handlers report what they served into the :data:`WORK` context variable of the request; a ``$batch`` reports
one operation per part, so its cost is the sum of its parts' (reference §6.3: a batch is one request for the
request count but adds the execution time of everything in it).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

DEFAULT_FIXED_MS = 50.0
DEFAULT_PER_ROW_US = 40.0
DEFAULT_PER_COLUMN_US = 3.0


@dataclass(frozen=True)
class CostModel:
    """Server execution time per operation; see the module docstring for the defaults' derivation."""

    fixed_ms: float = DEFAULT_FIXED_MS
    per_row_us: float = DEFAULT_PER_ROW_US
    per_column_us: float = DEFAULT_PER_COLUMN_US

    def __post_init__(self) -> None:
        if min(self.fixed_ms, self.per_row_us, self.per_column_us) < 0:
            raise ValueError("cost model parts must not be negative")

    def seconds(self, work: Work) -> float:
        """The execution time of everything ``work`` records (at least one operation's fixed part)."""
        rows = sum(n * (self.per_row_us + self.per_column_us * columns) for n, columns in work.pages)
        return max(1, work.operations) * self.fixed_ms / 1000 + rows / 1_000_000


@dataclass
class Work:
    """What one HTTP request made the server do: operations run and pages of (rows, columns) served."""

    operations: int = 0
    pages: list[tuple[int, int]] = field(default_factory=list)

    def served(self, rows: int, columns: int) -> None:
        if rows:
            self.pages.append((rows, columns))


#: The work of the request being handled (a fresh :class:`Work` per request, set by the app).
WORK: ContextVar[Work | None] = ContextVar("crm_emulator_work", default=None)


def record_operation() -> None:
    work = WORK.get()
    if work is not None:
        work.operations += 1


def record_rows(rows: int, columns: int) -> None:
    work = WORK.get()
    if work is not None:
        work.served(rows, columns)
