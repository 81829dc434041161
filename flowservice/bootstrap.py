"""The one place that wires settings → adapters → services. Nothing does I/O at import time; entry points
(api, cli, worker) call ``build`` and use what it returns."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from flowservice.domain.tenancy import Tenant
from flowservice.embedded import ProcessRuntime
from flowservice.lake import DeltaLake, root_problem, s3_options
from flowservice.lake.store_errors import cause as store_cause
from flowservice.observability.readiness import Readiness
from flowservice.ports import RunMetrics, SourceFactory
from flowservice.services.catalog import CatalogService
from flowservice.services.connections import ConnectionService
from flowservice.services.export import DataAccessService
from flowservice.services.flow_connections import SourceConnectionService, TargetConnectionService
from flowservice.services.flows import FlowService
from flowservice.services.identity import IdentityService
from flowservice.services.mapping_sets import MappingSetService
from flowservice.services.request_budget import RequestBudget
from flowservice.services.runs import RunEngine, RunProgress, RunService, Scheduler
from flowservice.services.source_calls import SourceCalls
from flowservice.services.specs import SpecCatalog
from flowservice.services.token_guard import TokenGuard
from flowservice.settings import Settings
from flowservice.store.db import dispose, make_engine, migrate
from flowservice.store.fair_claims import Limits
from flowservice.store.identity import SqlIdentities
from flowservice.store.mapping_versions import SqlMappingVersions
from flowservice.store.observed import ObservedState
from flowservice.store.queue import SqlRunQueue
from flowservice.store.resources import SqlResources
from flowservice.store.retention import RunRetention
from flowservice.store.run_documents import SqlRunDocuments
from flowservice.store.run_errors import SqlRunErrors
from flowservice.store.schedules import SqlSchedules
from flowservice.store.vault import Vault, load_or_create_key
from flowservice.worker import Runtime, Worker

if TYPE_CHECKING:
    from flowservice.dispatch.procrastinate_queue import ProcrastinateDispatch
    from flowservice.sources.registry import SourceRegistry

log = logging.getLogger("flowservice")


def source_registry() -> SourceRegistry:
    """Every source this server can read (``sources/registry.py``); imported on first use, not with bootstrap."""
    from flowservice.sources.registry import SourceRegistry

    return SourceRegistry()


def spec_catalog(registry: SourceRegistry | None = None) -> SpecCatalog:
    """The product's specs and the connection spec of every registered source, each source's checked present."""
    registry = registry if registry is not None else source_registry()
    specs = SpecCatalog.load(connection_files=registry.connection_specs)
    for spec_id, package in registry.items():
        if spec_id not in specs.connections:
            raise ValueError(f"{package.connection_spec} does not define the connection spec {spec_id}")
    return specs


@dataclass
class Container:
    settings: Settings
    engine: Engine
    specs: SpecCatalog
    identity: IdentityService
    connections: ConnectionService
    catalog: CatalogService
    source_connections: SourceConnectionService
    target_connections: TargetConnectionService
    mapping_sets: MappingSetService
    flows: FlowService
    runs: RunService
    run_engine: RunEngine
    queue: SqlRunQueue
    lake: DeltaLake
    scheduler: Scheduler
    data_access: DataAccessService
    observed: ObservedState  # what /metrics reads from the database
    readiness: Readiness
    dispatch: ProcrastinateDispatch | None = None  # FLOWSERVICE_QUEUE=procrastinate

    def worker(self, name: str | None = None) -> Worker:
        return Worker(
            self.run_engine,
            self.queue,
            stale_after=self.settings.run_stale_seconds,
            name=name,
            share=self.connections.sources_share,
        )

    def runtime(
        self, *, scheduler: bool = True, workers: int | None = None, mode: str | None = None
    ) -> Runtime | ProcessRuntime:
        """The scheduler and ``workers`` workers: threads of this process, or child processes
        (``FLOWSERVICE_WORKER_MODE``, ``process`` by default)."""
        count = self.settings.workers if workers is None else workers
        if (mode or self.settings.worker_mode) == "process":
            return ProcessRuntime(self.settings, workers=count, scheduler=scheduler)
        retention = RunRetention(
            self.engine, days=self.settings.run_retention_days, per_flow=self.settings.run_retention_per_flow
        )
        return Runtime(
            self.scheduler if scheduler else None,
            [self.worker() for _ in range(count)],
            self.settings.scheduler_interval_seconds,
            housekeeping=[(self.settings.run_retention_interval_seconds, retention.prune)],
        )

    def serve_dispatched(self, threads: int) -> None:
        """``flowservice worker`` with ``FLOWSERVICE_QUEUE=procrastinate``: procrastinate's worker with
        flowservice's tasks, ``threads`` runs at once, until SIGTERM or SIGINT (``dispatch/tasks.py``)."""
        import asyncio

        from flowservice.dispatch.procrastinate_queue import worker_app
        from flowservice.dispatch.tasks import Jobs, register, serve

        dispatch = self.dispatch
        if dispatch is None:
            raise ValueError("serve_dispatched needs FLOWSERVICE_QUEUE=procrastinate")
        stale = self.settings.run_stale_seconds
        worker = self.worker()
        retention = RunRetention(
            self.engine, days=self.settings.run_retention_days, per_flow=self.settings.run_retention_per_flow
        )
        jobs = Jobs(
            run=lambda run_id, job: worker.run_claimed(run_id, self.queue, job),
            tick=self.scheduler.tick,
            recover=lambda: dispatch.recover_stalled(self.engine, stale) + dispatch.adopt_orphans(self.engine, stale),
            tick_every=self.settings.scheduler_interval_seconds,
            recover_every=max(1.0, stale / 4),
            housekeeping=[
                (self.settings.run_retention_interval_seconds, retention.prune),
                (self.settings.run_retention_interval_seconds, lambda: dispatch.prune_jobs(self.engine)),
            ],
        )
        app = register(worker_app(self.settings.sqlalchemy_url), jobs)
        log.info("worker %s: procrastinate dispatch, %d run(s) at once; SIGTERM stops", worker.id, threads)
        asyncio.run(
            serve(app, concurrency=threads, heartbeat=stale / 6, stalled_after=stale, on_stop=worker.stopping.set)
        )

    def query(self, org: str, sandbox: str, sql: str) -> Any:
        """DuckDB SQL over the datasets of one sandbox, each a view named after its dataset."""
        tenant = Tenant(org, sandbox)
        tables = {
            d.doc["name"]: d.doc["lake"]["path"]
            for d in self.catalog.resources.list("dataSets", tenant)
            if self.lake.stats(d.doc["lake"]["path"])
        }
        return self.lake.query(sql, tables)

    def check_lake(self) -> None:
        """What ``serve`` and ``worker`` do before anything else: refuse to start on a lake that cannot be used
        (an S3 store without conditional put, a wrong bucket or credentials), with the operator's reason."""
        self.lake.check_storage(conditional_put=self.settings.lake_s3_check_conditional_put)

    def close(self) -> None:
        self.connections.calls.close()
        dispose(self.engine)


def lake_storage_options(settings: Settings) -> dict[str, str] | None:
    """S3 options for an ``s3://`` lake; credentials from the ``lake_s3_*`` settings, else the standard ``AWS_*``
    variables."""
    if not settings.lake_path.startswith("s3://"):
        return None
    return s3_options(
        access_key_id=settings.lake_s3_access_key_id,
        secret_access_key=settings.lake_s3_secret_access_key,
        endpoint_url=settings.lake_s3_endpoint_url,
        region=settings.lake_s3_region,
        allow_http=settings.lake_s3_allow_http,
    )


def build(
    settings: Settings | None = None, *, sources: SourceFactory | None = None, registry: SourceRegistry | None = None
) -> Container:
    """Wire everything. ``registry`` (default: ``source_registry()``) gives the sources' connection specs and their
    factory; ``sources`` replaces that factory (tests pass a working fake)."""
    settings = settings or Settings()
    registry = registry if registry is not None else source_registry()
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    engine = make_engine(settings.sqlalchemy_url)
    migrate(engine)
    vault = Vault(load_or_create_key(data_dir / "secret.key", env_value=os.environ.get("FLOWSERVICE_SECRET_KEY")))
    signing_key = load_or_create_key(
        data_dir / "signing.key", env_value=os.environ.get("FLOWSERVICE_SIGNING_KEY"), size=32
    )
    specs = spec_catalog(registry)
    resources = SqlResources(engine, vault)
    identity = IdentityService(
        SqlIdentities(engine),
        signing_key,
        settings.token_lifetime_seconds,
        TokenGuard(
            settings.token_failures_per_client,
            settings.token_failures_per_address,
            settings.token_failure_window_seconds,
        ),
    )
    sources = sources or registry.factory()
    calls = SourceCalls(
        threads=settings.source_call_threads,
        per_tenant=settings.source_calls_per_tenant,
        deadline_seconds=settings.source_call_deadline_seconds,
    )
    connections = ConnectionService(resources, specs, sources, calls)
    lake = DeltaLake(settings.lake_path, lake_storage_options(settings))
    dispatch = dispatch_for(settings, engine)
    queue = SqlRunQueue(engine, Limits(settings.max_runs_per_org, settings.max_runs_per_connection), dispatch=dispatch)
    catalog = CatalogService(resources, lake)
    mapping_sets = MappingSetService(resources, SqlMappingVersions(engine))
    flows = FlowService(resources, specs, connections, mapping_sets, catalog, queue)
    run_errors = SqlRunErrors(engine)
    runs = RunService(
        resources,
        flows,
        queue,
        run_errors,
        RequestBudget("POST /runs", settings.runs_post_per_minute, settings.runs_post_per_minute_per_org),
    )
    run_metrics = observability_metrics()
    run_engine = RunEngine(
        plans=flows,
        sources=connections,
        lake=lake,
        queue=queue,
        errors=run_errors,
        progress=RunProgress(resources, SqlRunDocuments(engine), catalog),
        commit_every_rows=settings.commit_every_rows,
        page_size=settings.page_size,
        metrics=run_metrics,
    )
    observed = ObservedState(engine)
    return Container(
        settings=settings,
        engine=engine,
        specs=specs,
        identity=identity,
        connections=connections,
        catalog=catalog,
        source_connections=SourceConnectionService(resources, specs, connections),
        target_connections=TargetConnectionService(resources, specs, catalog),
        mapping_sets=mapping_sets,
        flows=flows,
        runs=runs,
        run_engine=run_engine,
        queue=queue,
        lake=lake,
        scheduler=Scheduler(SqlSchedules(engine), queue, max_catch_up=settings.max_catch_up_windows),
        data_access=DataAccessService(catalog, lake),
        observed=observed,
        readiness=Readiness(
            observed.ping, partial(root_problem, settings.lake_path, lake_storage_options(settings)), store_cause
        ),
        dispatch=dispatch,
    )


def observability_metrics() -> RunMetrics:
    """This process's Prometheus metrics: the engine's, and the sources' requests (``sources.net.observe``).
    Imported here, after ``serve`` chose the multi-process mode (``observability.processes``)."""
    from flowservice.observability.metrics import PrometheusRunMetrics, source_request
    from flowservice.sources.net import observe

    observe.install(source_request)
    return PrometheusRunMetrics()


def dispatch_for(settings: Settings, engine: Engine) -> ProcrastinateDispatch | None:
    """With ``FLOWSERVICE_QUEUE=procrastinate``: procrastinate's schema applied (idempotently) and the dispatch
    every claimable run is deferred through. Imported only then: the embedded default never loads it."""
    if settings.queue != "procrastinate":
        return None
    from flowservice.dispatch.procrastinate_queue import ProcrastinateDispatch, defer_app, ensure_schema

    if engine.dialect.name != "postgresql":
        raise ValueError("FLOWSERVICE_QUEUE=procrastinate needs a PostgreSQL FLOWSERVICE_DATABASE_URL")
    ensure_schema(engine)
    # procrastinate logs every job deferred, started and ended, the periodic ones too (several a second); the
    # engine logs each run's end, so procrastinate's own lines are kept for warnings and errors
    logging.getLogger("procrastinate").setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
    return ProcrastinateDispatch(defer_app(settings.sqlalchemy_url))
