"""The ``flowservice`` command: serve the API, manage clients and sandboxes, run the demo, query datasets.

Errors are one clear line (``--debug`` shows the trace); ``--log-format json`` suits machines.
"""

from __future__ import annotations

import io
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from flowservice.domain.errors import FlowServiceError
from flowservice.logging_setup import configure_logging
from flowservice.settings import Settings

app = typer.Typer(
    help="flowservice: a self-hostable Flow Service that lands Microsoft Dynamics 365 tables in Delta Lake.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
clients_app = typer.Typer(help="API clients (the x-api-key and secret used to get tokens).", no_args_is_help=True)
sandboxes_app = typer.Typer(help="Sandboxes: partitions of an org's resources.", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
runs_app = typer.Typer(help="Runs of dataflows.", no_args_is_help=True)
app.add_typer(sandboxes_app, name="sandboxes")
app.add_typer(runs_app, name="runs")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="FLOWSERVICE_DATA_DIR", help="State directory (database, keys, lake)."),
]
_state: dict[str, Any] = {"debug": False}


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    log_format: Annotated[
        str, typer.Option("--log-format", envvar="FLOWSERVICE_LOG_FORMAT", help="text or json")
    ] = "text",
    log_level: Annotated[str, typer.Option("--log-level", envvar="FLOWSERVICE_LOG_LEVEL")] = "INFO",
) -> None:
    _state["debug"] = debug
    configure_logging(log_format, log_level)


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the Flow Service API, with the embedded scheduler and workers in child processes of its own."""
    import uvicorn

    from flowservice.observability.processes import share_with_children

    settings = settings_for(data_dir, host=host, port=port)
    if settings.queue == "procrastinate" and settings.embedded_workers:
        raise typer.BadParameter(
            "FLOWSERVICE_QUEUE=procrastinate runs are executed by `flowservice worker` processes: "
            "set FLOWSERVICE_EMBEDDED_WORKERS=false"
        )
    share_with_children(settings.data_dir)  # before any metric exists: the embedded workers' counters reach /metrics

    from flowservice.api.app import create_app
    from flowservice.bootstrap import build

    container = build(settings)
    container.check_lake()
    application = create_app(container, embedded_runtime=settings.embedded_workers)
    logging.getLogger("flowservice").info(
        "serving on http://%s:%s (data in %s)", settings.host, settings.port, settings.data_dir
    )
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="warning", access_log=False)


@clients_app.command("create")
def clients_create(
    org: Annotated[str, typer.Option(help="The org id, e.g. ACME@AdobeOrg.")],
    name: Annotated[str, typer.Option(help="A label for the client.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Register an API client; prints JSON with client_id (the x-api-key) and client_secret."""
    from flowservice.bootstrap import build

    container = build(settings_for(data_dir))
    typer.echo(json.dumps(container.identity.create_client(org, name)))


@sandboxes_app.command("create")
def sandboxes_create(
    org: Annotated[str, typer.Option(help="The org id.")],
    name: Annotated[str, typer.Option(help="Lower-case sandbox name.")],
    data_dir: DataDir = None,
) -> None:
    """Create a sandbox (every org has 'prod')."""
    from flowservice.bootstrap import build

    container = build(settings_for(data_dir))
    container.identity.create_sandbox(org, name)
    typer.echo(json.dumps({"org": org, "sandbox": name}))


@runs_app.command("watch")
def runs_watch(
    flow_id: Annotated[str, typer.Argument(help="The flow whose latest run to follow.")],
    org: Annotated[str, typer.Option(help="The org of the flow.")],
    sandbox: Annotated[str, typer.Option(help="The sandbox of the flow.")] = "prod",
    data_dir: DataDir = None,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 3600,
) -> None:
    """Follow the latest run of a flow with live progress until it ends, then print its summary."""
    from rich.console import Console

    from flowservice.bootstrap import build
    from flowservice.console import summary_table, watch
    from flowservice.domain.tenancy import Tenant

    container = build(settings_for(data_dir))
    tenant = Tenant(org, sandbox)
    container.flows.get(tenant, flow_id)  # a clear 'not found' first

    def fetch() -> dict[str, dict[str, Any]]:
        page = container.runs.list(
            tenant, [("property", f"flowId=={flow_id}"), ("orderby", "-createdAt"), ("limit", "1")]
        )
        return {flow_id[:8]: page["items"][0]} if page["items"] else {}

    console = Console()
    runs = watch(fetch, console, timeout=timeout)
    console.print(summary_table(runs))


@runs_app.command("start")
def runs_start(
    flow_id: Annotated[str, typer.Argument(help="The flow to run now.")],
    org: Annotated[str, typer.Option(help="The org of the flow.")],
    sandbox: Annotated[str, typer.Option(help="The sandbox of the flow.")] = "prod",
    full_refresh: Annotated[
        bool, typer.Option(help="Read the table in full: rewrite every row (backfills added columns), find deletes.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Queue an on-demand run of a flow (as POST /runs does) and print its id; a server or worker executes it."""
    from flowservice.bootstrap import build
    from flowservice.domain.tenancy import Principal, Tenant

    container = build(settings_for(data_dir))
    body: dict[str, Any] = {"flowId": flow_id, **({"params": {"fullRefresh": True}} if full_refresh else {})}
    stored = container.runs.create(Tenant(org, sandbox), Principal("flowservice-cli", org), body)
    typer.echo(json.dumps({"id": stored.id, "flowId": flow_id, "params": stored.doc.get("params", {})}))


@app.command()
def worker(
    data_dir: DataDir = None,
    threads: Annotated[int, typer.Option(help="Runs executed at once by this process.")] = 1,
    scheduler: Annotated[
        bool, typer.Option(help="Also run the scheduler (any number may; firing is idempotent).")
    ] = False,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve this worker's Prometheus metrics on this port (FLOWSERVICE_METRICS_PORT).")
    ] = None,
) -> None:
    """Execute queued runs (scale-out: start several, on several machines, sharing FLOWSERVICE_DATABASE_URL).

    With FLOWSERVICE_QUEUE=procrastinate: procrastinate's worker with flowservice's tasks (--threads runs at once;
    every worker fires schedules, so --scheduler is not needed)."""
    from flowservice.bootstrap import build

    settings = settings_for(data_dir, metrics_port=metrics_port)
    container = build(settings)
    container.check_lake()
    if settings.metrics_port is not None:  # this process's counters (rows, source requests); gauges: /metrics
        from prometheus_client import start_http_server

        from flowservice.observability.metrics import registry

        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry())
    if container.settings.queue == "procrastinate":  # procrastinate's worker; its periodic tasks schedule
        container.serve_dispatched(threads)
        return
    runtime = container.runtime(scheduler=scheduler, workers=threads, mode="thread")
    # a shutdown: runs in flight go back to the queue. The handler only records the signal (as embedded.py's
    # children do): an Event set there takes a lock that a second SIGTERM, arriving inside it, waits on forever
    terminated: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: terminated.append(signum))
    runtime.start()
    logging.getLogger("flowservice").info("worker running %d thread(s); Ctrl-C or SIGTERM stops", threads)
    try:
        while not terminated:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    runtime.stop()


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help='DuckDB SQL; datasets are views named after them, e.g. "accounts".')],
    org: Annotated[str, typer.Option(help="The org whose datasets to query.")],
    sandbox: Annotated[str, typer.Option(help="The sandbox.")] = "prod",
    data_dir: DataDir = None,
    output: Annotated[str, typer.Option(help="table, csv or json")] = "table",
) -> None:
    """Run SQL over the datasets of a sandbox (their Delta tables, read through Arrow)."""
    from flowservice.bootstrap import build

    container = build(settings_for(data_dir))
    result = container.query(org, sandbox, sql)
    if output == "json":
        typer.echo(json.dumps(result.to_pylist(), default=str))
    elif output == "csv":
        import pyarrow.csv as pacsv

        sink = io.BytesIO()
        pacsv.write_csv(result, sink)
        typer.echo(sink.getvalue().decode().rstrip())
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(*result.column_names)
        for row in result.to_pylist():
            table.add_row(*("" if v is None else str(v) for v in row.values()))
        Console().print(table)


@app.command()
def demo(
    work_dir: Annotated[Path, typer.Option(help="Where the demo keeps its org, server state and lake.")] = Path(
        ".flowservice-demo"
    ),
    scale: Annotated[int, typer.Option(help="Accounts in the local org (contacts are twice as many).")] = 20_000,
    keep_running: Annotated[bool, typer.Option(help="Leave the org and the server up at the end.")] = False,
    scale_out: Annotated[
        bool, typer.Option(help="On PostgreSQL, a local S3 server and worker processes on procrastinate.")
    ] = False,
    admin_database_url: Annotated[
        str, typer.Option(envvar="FLOWSERVICE_DEMO_ADMIN_DATABASE_URL", help="--scale-out: creates its database.")
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
    workers: Annotated[int, typer.Option(help="--scale-out: worker processes.")] = 3,
    database: Annotated[
        str, typer.Option(help="--scale-out: the database it creates (dropping an old one of that name).")
    ] = "flowservice_demo_scale",
) -> None:
    """Run the whole product end to end against a local Dynamics org: connect, explore, land, query, increment."""
    from flowservice.demo import DemoError, run_demo

    try:
        if scale_out:
            from flowservice.demo_scale import run_scale_demo

            run_scale_demo(work_dir, scale, keep_running, admin_database_url, database, workers)
            return
        run_demo(work_dir, scale, keep_running)
    except DemoError as exc:
        typer.secho(f"demo failed: {exc}", err=True, fg="red")
        raise typer.Exit(1) from None


def main() -> None:
    try:
        app()
    except FlowServiceError as exc:
        if _state["debug"]:
            raise
        typer.secho(f"error: {exc.message}", err=True, fg="red")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if _state["debug"]:
            raise
        typer.secho(f"error: {exc} (run with --debug for the trace)", err=True, fg="red")
        sys.exit(1)
