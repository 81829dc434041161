"""Dispatchers of runs other than the run-queue table's own polling: ``procrastinate_queue`` (the store's
``Dispatch``, jobs deferred in the run's transaction, stalled-job recovery) and ``tasks`` (the procrastinate
tasks and worker loop of ``flowservice worker`` with ``FLOWSERVICE_QUEUE=procrastinate``).

An adapter layer: it imports the store's tables and the ports, never services or entry points."""
