"""Runs: their documents, the scheduler that queues them, and the engine that lands them.

- ``documents``: run documents on demand, re-trigger, row errors (``RunService``)
- ``scheduler``: due schedule windows → queued runs
- ``engine``: the landing loop (source pages → mapping → Delta commits, exactly once, fenced by the claim)
- ``commits``: the engine's metadata around the source's cursor in every commit (stored data)
- ``context``, ``progress``: a run in flight, and what its document and batch show of it
- ``pages_ahead``, ``rows``, ``pending``, ``resync``, ``identity``: the steps of the loop
"""

from flowservice.services.runs.documents import LostClaim, RunService, new_run_doc
from flowservice.services.runs.engine import RunEngine
from flowservice.services.runs.progress import RunProgress
from flowservice.services.runs.scheduler import Scheduler

__all__ = ["LostClaim", "RunEngine", "RunProgress", "RunService", "Scheduler", "new_run_doc"]
